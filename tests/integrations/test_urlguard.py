"""The SSRF guard: http(s) only, and every resolved address public, unless allowed per endpoint (admins)
or per host in settings. No test here needs outside DNS: hosts are address literals or localhost."""
import pytest

from integrations.services.urlguard import UnsafeUrl, url_check


@pytest.mark.parametrize(("url", "why"), [
    ("http://10.0.0.1/hook", "private"),
    ("http://192.168.1.20:8080/hook", "private"),
    ("https://172.16.5.4/hook", "private"),
    ("http://169.254.169.254/latest/meta-data/", "link-local"),
    ("http://127.0.0.1:8000/hook", "loopback"),
    ("http://localhost/hook", "loopback"),
    ("http://[::1]/hook", "loopback"),
    ("http://[::ffff:10.0.0.1]/hook", "private"),
    ("http://[fe80::1]/hook", "link-local"),
    ("http://0.0.0.0/hook", "unspecified"),
    ("http://224.0.0.1/hook", "multicast"),
    ("http://100.64.0.7/hook", "non-public"),
])
def test_private_loopback_link_local_and_other_non_public_addresses_are_refused(url, why):
    with pytest.raises(UnsafeUrl, match=why) as caught:
        url_check(url)
    assert caught.value.fields["url"] == [caught.value.message]
    assert caught.value.code == "unsafe_url" and caught.value.status == 400


@pytest.mark.parametrize("url", ["ftp://93.184.216.34/x", "file:///etc/passwd", "gopher://93.184.216.34/",
                                 "javascript:alert(1)", "93.184.216.34/hook"])
def test_only_http_and_https_are_accepted(url):
    with pytest.raises(UnsafeUrl, match="only http and https"):
        url_check(url)


def test_credentials_in_the_url_and_a_missing_host_are_refused():
    with pytest.raises(UnsafeUrl, match="credentials"):
        url_check("https://user:pw@93.184.216.34/hook")
    with pytest.raises(UnsafeUrl, match="no host"):
        url_check("https:///hook")


def test_a_public_address_passes_and_the_target_pins_it():
    target = url_check("https://93.184.216.34/hooks/revops?x=1")
    assert (target.scheme, target.host, target.port, target.address, target.path) == (
        "https", "93.184.216.34", 443, "93.184.216.34", "/hooks/revops?x=1")
    assert target.host_header == "93.184.216.34"
    v6 = url_check("http://[2606:4700:4700::1111]:8080/")
    assert (v6.address, v6.port, v6.host_header) == ("2606:4700:4700::1111", 8080, "[2606:4700:4700::1111]:8080")


def test_an_endpoint_allowed_a_private_network_may_use_one():
    target = url_check("http://10.0.0.1:9000/hook", allow_private_network=True)
    assert (target.address, target.port, target.host_header) == ("10.0.0.1", 9000, "10.0.0.1:9000")


def test_hosts_in_the_allow_list_setting_pass(settings):
    settings.REVOPS_WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    assert url_check("http://127.0.0.1:8123/hook").address == "127.0.0.1"
    with pytest.raises(UnsafeUrl, match="private"):
        url_check("http://10.0.0.1/hook")  # only the listed host


def test_a_name_that_does_not_resolve_is_refused():
    with pytest.raises(UnsafeUrl, match="does not resolve"):
        url_check("https://no-such-host.invalid/hook")
