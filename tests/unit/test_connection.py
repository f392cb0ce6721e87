"""Connection options: one declaration, several spellings (pure logic)."""

from __future__ import annotations

import pytest
import yaml

from ansible_collections.dbferry.mysql.plugins.doc_fragments.connection import ModuleDocFragment
from ansible_collections.dbferry.mysql.plugins.module_utils import connection as c
from ansible_collections.dbferry.mysql.plugins.module_utils.errors import DbferryError
from ansible_collections.dbferry.mysql.plugins.module_utils.identifiers import quote_ident, quote_table


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
                          "config_file", "ca_cert", "client_cert", "client_key", "check_hostname", "connect_timeout"}
    assert login["login_password"]["no_log"] is True
    assert c.server_argument_spec()["options"]["password"]["no_log"] is True


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


def test_session_mode_keeps_zero_dates_and_key_zero():
    modes = c.SESSION_SQL_MODE.split(",")
    assert "STRICT_ALL_TABLES" in modes and "NO_AUTO_VALUE_ON_ZERO" in modes
    assert "NO_ZERO_DATE" not in modes and "NO_ZERO_IN_DATE" not in modes


def test_identifiers_are_always_quoted():
    assert quote_ident("a`b") == "`a``b`"
    assert quote_table("shop", "or`ders") == "`shop`.`or``ders`"
    with pytest.raises(ValueError):
        quote_ident("")
