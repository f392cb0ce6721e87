"""Connection options: one declaration, several spellings (pure logic)."""

from __future__ import annotations

import pytest
import yaml

from ansible_collections.dbferry.mysql.plugins.doc_fragments.connection import ModuleDocFragment
from ansible_collections.dbferry.mysql.plugins.module_utils.server import connection as c
from ansible_collections.dbferry.mysql.plugins.module_utils.common.errors import DbferryError
from ansible_collections.dbferry.mysql.plugins.module_utils.common.identifiers import quote_ident, quote_table


def test_password_never_in_repr_or_description():
    spec = c.ServerSpec(host="db1", port=3307, user="ferry", password="s3cr3t-pw")
    assert "s3cr3t-pw" not in repr(spec)
    assert "s3cr3t-pw" not in spec.describe()
    assert spec.describe() == "ferry@db1:3307"
    assert c.ServerSpec(user="u", unix_socket="/run/m.sock").describe() == "u@/run/m.sock"


def test_login_params_map_to_the_same_spec_as_a_server_dict():
    params = {"login_host": "db1", "login_port": 3307, "login_user": "u", "login_password": "p",
              "login_unix_socket": None, "config_file": None, "ca_cert": "/ca.pem", "client_cert": None,
              "client_key": None, "check_hostname": True, "connect_timeout": 5}
    expected = c.ServerSpec(host="db1", port=3307, user="u", password="p", config_file="~/.my.cnf",
                            ca_cert="/ca.pem", check_hostname=True, connect_timeout=5)
    assert c.ServerSpec.from_login_params(params) == expected


def test_unknown_option_names_itself_and_the_valid_ones():
    with pytest.raises(DbferryError) as err:
        c.ServerSpec.from_options({"hostname": "db1"})
    assert err.value.obj == "hostname"
    assert "host" in err.value.fix


def test_argument_specs_derive_from_one_declaration():
    login = c.login_argument_spec()
    assert set(login) == {"login_host", "login_port", "login_user", "login_password", "login_unix_socket",
                          "config_file", "ca_cert", "client_cert", "client_key", "check_hostname", "ssl_mode", "connect_timeout",
                          "read_timeout"}
    assert login["ssl_mode"]["choices"] == ["preferred", "required", "verify_ca", "verify_identity"]
    assert login["read_timeout"]["default"] == c.DEFAULT_READ_TIMEOUT
    assert login["login_password"]["no_log"] is True
    assert c.server_argument_spec()["options"]["password"]["no_log"] is True


@pytest.mark.parametrize("options,mode", [
    ({}, "preferred"),
    ({"ssl_mode": "required"}, "required"),
    ({"ca_cert": "/ca.pem"}, "verify_identity"),  # a CA alone checks the host name too
    ({"ca_cert": "/ca.pem", "check_hostname": True}, "verify_identity"),
    ({"ca_cert": "/ca.pem", "check_hostname": False}, "verify_ca"),
    ({"ca_cert": "/ca.pem", "ssl_mode": "verify_ca"}, "verify_ca"),
    ({"ssl_mode": "verify_identity"}, "verify_identity"),  # against the system's CAs
    ({"ssl_mode": "required", "client_cert": "/c.pem", "client_key": "/k.pem"}, "required"),
])
def test_tls_mode_in_force(options, mode):
    assert c.ServerSpec.from_options(dict(options, host="db1")).tls_mode() == mode


@pytest.mark.parametrize("options,obj,words", [
    ({"ssl_mode": "verify_full"}, "ssl_mode", "is not one of preferred, required, verify_ca, verify_identity"),
    ({"ssl_mode": "required", "ca_cert": "/ca.pem"}, "ssl_mode", "does not verify the server's certificate, but ca_cert is given"),
    ({"ssl_mode": "preferred", "check_hostname": True}, "ssl_mode", "but check_hostname is given"),
    ({"ssl_mode": "verify_ca", "ca_cert": "/ca.pem", "check_hostname": True}, "check_hostname", "contradicts ssl_mode: verify_ca"),
    ({"ssl_mode": "verify_identity", "check_hostname": False}, "check_hostname", "contradicts ssl_mode: verify_identity"),
    ({"client_cert": "/c.pem"}, "ssl_mode", "where client_cert is never shown"),
    ({"read_timeout": 0}, "read_timeout", "must be a positive number of seconds"),
])
def test_contradictory_tls_options_and_bad_timeouts_are_refused(options, obj, words):
    with pytest.raises(DbferryError) as err:
        c.ServerSpec.from_options(dict(options, host="db1", user="u"))
    assert err.value.obj == obj and words in err.value.message and "u@db1:3306" in err.value.message


def test_option_file_gives_login_and_tls_files_never_where_to_connect(tmp_path):
    cnf = tmp_path / "my.cnf"
    cnf.write_text("[mysql]\nuser = not-this\n[client]\n# a comment\nuser = filed\npassword = \"p w#1\"\nhost = elsewhere\n"
                   "port = 3999\nsocket = /run/other.sock\nssl-ca = /etc/ca.pem\nskip-ssl\n")
    assert c.option_file_values(str(cnf)) == {"user": "filed", "password": "p w#1", "ca_cert": "/etc/ca.pem"}
    spec = c.ServerSpec(host="db1", port=3307, user="given", config_file=str(cnf)).with_option_file()
    assert (spec.host, spec.port, spec.unix_socket, spec.user, spec.password, spec.ca_cert) == ("db1", 3307, None, "given", "p w#1", "/etc/ca.pem")
    assert spec.tls_mode() == "verify_identity"
    # A mode that chose not to verify keeps the file's CA out, rather than failing on it.
    assert c.ServerSpec(host="db1", ssl_mode="required", config_file=str(cnf)).with_option_file().ca_cert is None
    assert c.option_file_values(str(tmp_path / "absent.cnf")) == {}


def test_option_file_client_certificate_is_kept_for_required_and_dropped_for_preferred(tmp_path):
    """required may show a client certificate (the server may insist on one); preferred may not (it may connect without TLS)."""
    cnf = tmp_path / "my.cnf"
    cnf.write_text("[client]\nssl-ca = /etc/ca.pem\nssl-cert = /etc/client.pem\nssl-key = /etc/client.key\n")
    required = c.ServerSpec(host="db1", ssl_mode="required", config_file=str(cnf)).with_option_file()
    assert (required.ca_cert, required.client_cert, required.client_key) == (None, "/etc/client.pem", "/etc/client.key")
    assert required.tls_mode() == "required"
    preferred = c.ServerSpec(host="db1", ssl_mode="preferred", config_file=str(cnf)).with_option_file()
    assert (preferred.ca_cert, preferred.client_cert, preferred.client_key) == (None, None, None)


def test_an_unreadable_option_file_names_itself(tmp_path):
    cnf = tmp_path / "my.cnf"
    cnf.write_text("user = no section\n")
    with pytest.raises(DbferryError) as err:
        c.option_file_values(str(cnf))
    assert err.value.obj == str(cnf) and "cannot read the option file" in err.value.message


def _doc_options(fragment: str) -> dict:
    return yaml.safe_load(fragment)["options"]


@pytest.mark.parametrize("fragment,prefix", [("DOCUMENTATION", "login_"), ("SERVERS", ""), ("SOURCE_ADMIN", "")])
def test_doc_fragment_matches_the_argument_spec(fragment, prefix):
    docs = _doc_options(getattr(ModuleDocFragment, fragment))
    if fragment == "SERVERS":
        assert docs["source"]["suboptions"] == docs["target"]["suboptions"]
        docs = docs["source"]["suboptions"]
    if fragment == "SOURCE_ADMIN":
        docs = docs["source_admin"]["suboptions"]
    for name, spec in c.SERVER_OPTIONS.items():
        key = prefix + name if name in c.LOGIN_PREFIXED else name
        assert docs[key]["type"] == spec["type"], key
        assert docs[key].get("default") == spec.get("default"), key
    assert len(docs) == len(c.SERVER_OPTIONS)


def test_session_mode_keeps_zero_dates_invalid_dates_and_key_zero():
    modes = c.SESSION_SQL_MODE.split(",")
    assert "STRICT_ALL_TABLES" in modes and "NO_AUTO_VALUE_ON_ZERO" in modes and "ALLOW_INVALID_DATES" in modes
    assert "NO_ZERO_DATE" not in modes and "NO_ZERO_IN_DATE" not in modes
    assert c.LENIENT_SQL_MODE.split(",") == [mode for mode in modes if mode != "STRICT_ALL_TABLES"]


def test_identifiers_are_always_quoted():
    assert quote_ident("a`b") == "`a``b`"
    assert quote_table("shop", "or`ders") == "`shop`.`or``ders`"
    with pytest.raises(ValueError):
        quote_ident("")
