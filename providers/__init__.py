"""Built-in provider plugins, one module each (a package once it passes ~300 lines: ``dhcp``, ``ldap``); registered
through the ``positron.providers`` entry points. They import the core only through ``positron.provider``."""
