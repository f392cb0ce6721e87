"""Connection options shared by every dbferry.mysql module.

DOCUMENTATION documents the login_* options of a module that talks to one
server; SERVERS documents the source and target dicts of a module that
talks to two; SOURCE_ADMIN the cutover's login that preflight checks. All mirror SERVER_OPTIONS in module_utils/connection.py, and
tests/unit/test_connection.py keeps them in step with it. They are literal
text on purpose: ansible-test reads doc fragments without running them.
"""

from __future__ import annotations


class ModuleDocFragment:  # pylint: disable=too-few-public-methods
    """Doc fragments, used as dbferry.mysql.connection, dbferry.mysql.connection.servers and dbferry.mysql.connection.source_admin."""

    DOCUMENTATION = r"""
options:
  login_host:
    description:
      - Host name or IP address of the server.
    type: str
    default: localhost
  login_port:
    description:
      - TCP port of the server. Ignored when O(login_unix_socket) is set.
    type: int
    default: 3306
  login_user:
    description:
      - User to log in as. When unset, the user from O(config_file), if any.
    type: str
  login_password:
    description:
      - Password of O(login_user). Never logged or returned.
    type: str
  login_unix_socket:
    description:
      - Path of the server's Unix socket; used instead of host and port when set.
    type: str
  config_file:
    description:
      - A MySQL client option file (C([client]) section) read for defaults such as user and password,
        when it exists. Options given to the module win over it.
    type: path
    default: ~/.my.cnf
  ca_cert:
    description:
      - CA certificate file; when set, the connection uses TLS and verifies the server's certificate.
    type: path
  client_cert:
    description:
      - Client certificate file for TLS client authentication.
    type: path
  client_key:
    description:
      - Private key file of O(client_cert).
    type: path
  check_hostname:
    description:
      - Whether the server's certificate must match the host name. Unset leaves the driver's default.
    type: bool
  connect_timeout:
    description:
      - Seconds to wait for the server to accept a connection.
    type: int
    default: 30
requirements:
  - PyMySQL on the host that runs the module
"""

    SERVERS = r"""
options:
  source:
    description:
      - How to reach the source server, the one the databases move from.
      - The user needs C(SELECT) on the moved tables, and C(REPLICATION SLAVE) and
        C(BINLOG MONITOR) (MariaDB) or C(REPLICATION CLIENT) (MySQL) globally.
    type: dict
    required: true
    suboptions: &server
      host:
        description:
          - Host name or IP address of the server.
        type: str
        default: localhost
      port:
        description:
          - TCP port of the server. Ignored when O(source.unix_socket) is set.
        type: int
        default: 3306
      user:
        description:
          - User to log in as. When unset, the user from O(source.config_file), if any.
        type: str
      password:
        description:
          - Password of the user. Never logged or returned.
        type: str
      unix_socket:
        description:
          - Path of the server's Unix socket; used instead of host and port when set.
        type: str
      config_file:
        description:
          - A MySQL client option file (C([client]) section) read for defaults such as user and password,
            when it exists. Options given here win over it.
        type: path
        default: ~/.my.cnf
      ca_cert:
        description:
          - CA certificate file; when set, the connection uses TLS and verifies the server's certificate.
        type: path
      client_cert:
        description:
          - Client certificate file for TLS client authentication.
        type: path
      client_key:
        description:
          - Private key file of the client certificate.
        type: path
      check_hostname:
        description:
          - Whether the server's certificate must match the host name. Unset leaves the driver's default.
        type: bool
      connect_timeout:
        description:
          - Seconds to wait for the server to accept a connection.
        type: int
        default: 30
  target:
    description:
      - How to reach the target server, the one the databases move to. Same keys as O(source).
      - The user needs C(SELECT), C(INSERT), C(UPDATE), C(DELETE), C(CREATE), C(DROP) and C(ALTER)
        on the moved databases and on C(_dbferry).
    type: dict
    required: true
    suboptions: *server
requirements:
  - PyMySQL on the host that runs the module
"""

    SOURCE_ADMIN = r"""
options:
  source_admin:
    description:
      - The login the cutover switches the source read-only with (the role variable C(dbferry_source_admin)),
        checked by the C(source_admin) check: it connects, reaches the same server as O(source), and may switch
        C(read_only) (C(READ_ONLY ADMIN) on MariaDB, C(SYSTEM_VARIABLES_ADMIN) or C(SUPER) on MySQL) and see every
        session (C(PROCESS)).
      - Unset, the check reports that nothing was checked; a move that cuts over should always give it.
    type: dict
    suboptions:
      host:
        description:
          - Host name or IP address of the server.
        type: str
        default: localhost
      port:
        description:
          - TCP port of the server. Ignored when O(source_admin.unix_socket) is set.
        type: int
        default: 3306
      user:
        description:
          - User to log in as. When unset, the user from O(source_admin.config_file), if any.
        type: str
      password:
        description:
          - Password of the user. Never logged or returned.
        type: str
      unix_socket:
        description:
          - Path of the server's Unix socket; used instead of host and port when set.
        type: str
      config_file:
        description:
          - A MySQL client option file (C([client]) section) read for defaults such as user and password,
            when it exists. Options given here win over it.
        type: path
        default: ~/.my.cnf
      ca_cert:
        description:
          - CA certificate file; when set, the connection uses TLS and verifies the server's certificate.
        type: path
      client_cert:
        description:
          - Client certificate file for TLS client authentication.
        type: path
      client_key:
        description:
          - Private key file of the client certificate.
        type: path
      check_hostname:
        description:
          - Whether the server's certificate must match the host name. Unset leaves the driver's default.
        type: bool
      connect_timeout:
        description:
          - Seconds to wait for the server to accept a connection.
        type: int
        default: 30
"""
