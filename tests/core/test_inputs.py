from __future__ import annotations

import pytest

from positron.errors import InvalidInput
from positron.inputs import InputKind, hash_type, normalize


@pytest.mark.parametrize(
    ("kind", "raw", "expected"),
    [
        (InputKind.IP, " 10.1.2.3 ", "10.1.2.3"),
        (InputKind.IP, "2001:DB8:0:0::1", "2001:db8::1"),
        (InputKind.IP, "::ffff:10.1.2.3", "10.1.2.3"),
        (InputKind.HOSTNAME, "WS-042.Corp.Example.", "ws-042.corp.example"),
        (InputKind.HOSTNAME, "ws-042", "ws-042"),
        (InputKind.HOSTNAME, "bücher.example", "xn--bcher-kva.example"),
        (InputKind.DOMAIN, "Example.COM", "example.com"),
        (InputKind.USERNAME, "CORP\\JDoe", "jdoe"),
        (InputKind.USERNAME, "JDoe@Corp.Example", "jdoe@corp.example"),
        (InputKind.USERNAME, "jdoe", "jdoe"),
        (InputKind.USERNAME, "svc_backup$", "svc_backup$"),
        (InputKind.HASH, "44D88612FEA8A8F36DE82E1278ABB02F", "44d88612fea8a8f36de82e1278abb02f"),
        (InputKind.MAC, "00-16-3E-12-34-56", "00:16:3e:12:34:56"),
        (InputKind.MAC, "0016.3e12.3456", "00:16:3e:12:34:56"),
        (InputKind.MAC, "00163E123456", "00:16:3e:12:34:56"),
        (InputKind.TEAM, "  Incident   Response ", "incident response"),
        (InputKind.URL, "hxxps://Evil[.]Example/Login?a=B#frag", "https://evil.example/Login?a=B"),
        (InputKind.URL, "hxxp[://]evil[.]example", "http://evil.example/"),
        (InputKind.URL, "evil(.)example/x", "http://evil.example/x"),
        (InputKind.URL, "HTTP://EVIL.example:80/a", "http://evil.example/a"),
        (InputKind.URL, "https://evil.example:8443/a", "https://evil.example:8443/a"),
        (InputKind.URL, "http://[2001:DB8::1]/x", "http://[2001:db8::1]/x"),
        (InputKind.URL, "hxxps://198[.]51[.]100[.]7/gate.php", "https://198.51.100.7/gate.php"),
        (InputKind.URL, "https://bücher.example/", "https://xn--bcher-kva.example/"),
    ],
)
def test_normalizes(kind: InputKind, raw: str, expected: str) -> None:
    assert normalize(kind, raw) == expected


@pytest.mark.parametrize(
    ("kind", "raw"),
    [
        (InputKind.IP, "10.1.2"),
        (InputKind.IP, "10.1.2.3; rm -rf /"),
        (InputKind.HOSTNAME, "-bad-.example"),
        (InputKind.HOSTNAME, "a b"),
        (InputKind.URL, "javascript:alert(1)"),
        (InputKind.URL, "file:///etc/passwd"),
        (InputKind.URL, "http://exa mple.com/"),
        (InputKind.URL, "http://-bad-.example/"),
        (InputKind.URL, "http://evil.example:99999/"),
        (InputKind.URL, "http:///nohost"),
        (InputKind.HOSTNAME, "10.1.2.3"),
        (InputKind.DOMAIN, "localhost"),
        (InputKind.USERNAME, "*)(sAMAccountName=*"),
        (InputKind.USERNAME, 'x" | delete'),
        (InputKind.USERNAME, "a\\b\\c"),
        (InputKind.HASH, "abc"),
        (InputKind.HASH, "z" * 32),
        (InputKind.MAC, "00:16:3e:12:34"),
        (InputKind.TEAM, "<script>"),
    ],
)
def test_rejects_with_what_was_expected(kind: InputKind, raw: str) -> None:
    with pytest.raises(InvalidInput) as info:
        normalize(kind, raw)
    assert info.value.message.startswith("expected ")
    assert info.value.status_code == 422


def test_overlong_values_are_rejected_without_echoing_them() -> None:
    with pytest.raises(InvalidInput) as info:
        normalize(InputKind.HOSTNAME, "a" * 10_000)
    assert "10000 characters" in info.value.message
    assert "a" * 100 not in info.value.message


def test_hash_type_by_length() -> None:
    assert [hash_type(h) for h in ("a" * 32, "b" * 40, "c" * 64)] == ["md5", "sha1", "sha256"]
