"""Built-in provider plugins, one module each; registered through the ``positron.providers`` entry points."""
