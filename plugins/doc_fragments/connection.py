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
      - A MySQL client option file whose C([client]) section gives C(user), C(password), C(ssl-ca), C(ssl-cert) and
        C(ssl-key) where these options leave them unset (options given here win). Read when it exists.
      - Never its C(host), C(port) or C(socket) - where to connect comes from these options alone, so a C(socket=) line
        cannot lead the connection to another server.
    type: path
    default: ~/.my.cnf
  ca_cert:
    description:
      - CA certificate file to verify the server's certificate with. With it, O(ssl_mode) defaults to
        C(verify_identity) - the certificate must be signed by this CA and name the host connected to.
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
      - An older spelling of O(ssl_mode) with a CA - C(true) is C(verify_identity), C(false) is C(verify_ca).
        When both are set they must agree.
    type: bool
  ssl_mode:
    description:
      - How TLS is used, as the MySQL client's C(--ssl-mode).
      - C(preferred), the default without O(ca_cert) - TLS when the server offers it, and the certificate is not
        verified - encrypted against eavesdropping, not against a man in the middle; a server that offers no TLS
        is reached without it.
      - C(required) - TLS or no connection; the certificate is not verified.
      - C(verify_ca) - TLS, and a certificate signed by O(ca_cert) (without it, by a CA the system trusts).
      - C(verify_identity), the default with O(ca_cert) - as C(verify_ca), and the certificate names the host
        connected to.
      - A certificate that is not accepted fails at once, naming the server and the fix; it is never retried
        as if the network were down.
    type: str
    choices: [preferred, required, verify_ca, verify_identity]
  connect_timeout:
    description:
      - Seconds to wait for the server to accept a connection.
    type: int
    default: 30
  read_timeout:
    description:
      - Seconds to wait for the server's answer (or to send to it) before the session counts as lost, which a move
        retries like any dropped connection - a server that froze or a network that drops packets does not hold
        the move for ever. TCP keepalive is on as well.
      - The move's statements are short (row batches, verify chunks); the longest wait is for row locks, which
        InnoDB ends itself after C(innodb_lock_wait_timeout) (50 s by default); keep this above that. Stopping an
        agent may wait about this long for a server that does not answer.
    type: int
    default: 60
requirements:
  - PyMySQL 1.2.0 or later on the host that runs the module
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
          - A MySQL client option file whose C([client]) section gives C(user), C(password), C(ssl-ca), C(ssl-cert) and
            C(ssl-key) where these options leave them unset (options given here win). Read when it exists.
          - Never its C(host), C(port) or C(socket) - where to connect comes from these options alone, so a C(socket=) line
            cannot lead the connection to another server.
        type: path
        default: ~/.my.cnf
      ca_cert:
        description:
          - CA certificate file to verify the server's certificate with. With it, O(source.ssl_mode) defaults to
            C(verify_identity) - the certificate must be signed by this CA and name the host connected to.
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
          - An older spelling of O(source.ssl_mode) with a CA - C(true) is C(verify_identity), C(false) is C(verify_ca).
            When both are set they must agree.
        type: bool
      ssl_mode:
        description:
          - How TLS is used, as the MySQL client's C(--ssl-mode).
          - C(preferred), the default without O(source.ca_cert) - TLS when the server offers it, and the certificate is not
            verified - encrypted against eavesdropping, not against a man in the middle; a server that offers no TLS
            is reached without it.
          - C(required) - TLS or no connection; the certificate is not verified.
          - C(verify_ca) - TLS, and a certificate signed by O(source.ca_cert) (without it, by a CA the system trusts).
          - C(verify_identity), the default with O(source.ca_cert) - as C(verify_ca), and the certificate names the host
            connected to.
          - A certificate that is not accepted fails at once, naming the server and the fix; it is never retried
            as if the network were down.
        type: str
        choices: [preferred, required, verify_ca, verify_identity]
      connect_timeout:
        description:
          - Seconds to wait for the server to accept a connection.
        type: int
        default: 30
      read_timeout:
        description:
          - Seconds to wait for the server's answer (or to send to it) before the session counts as lost, which a move
            retries like any dropped connection - a server that froze or a network that drops packets does not hold
            the move for ever. TCP keepalive is on as well.
          - The move's statements are short (row batches, verify chunks); the longest wait is for row locks, which
            InnoDB ends itself after C(innodb_lock_wait_timeout) (50 s by default); keep this above that. Stopping an
            agent may wait about this long for a server that does not answer.
        type: int
        default: 60
  target:
    description:
      - How to reach the target server, the one the databases move to. Same keys as O(source).
      - The user needs C(SELECT), C(INSERT), C(UPDATE), C(DELETE), C(CREATE), C(DROP) and C(ALTER)
        on the moved databases and on C(_dbferry).
    type: dict
    required: true
    suboptions: *server
requirements:
  - PyMySQL 1.2.0 or later on the host that runs the module
"""

    SOURCE_ADMIN = r"""
options:
  source_admin:
    description:
      - The login the cutover switches the source read-only with (the role variable C(dbferry_source_admin)),
        checked by the C(source_admin) check - it connects, reaches the same server as O(source), and may switch
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
          - A MySQL client option file whose C([client]) section gives C(user), C(password), C(ssl-ca), C(ssl-cert) and
            C(ssl-key) where these options leave them unset (options given here win). Read when it exists.
          - Never its C(host), C(port) or C(socket) - where to connect comes from these options alone, so a C(socket=) line
            cannot lead the connection to another server.
        type: path
        default: ~/.my.cnf
      ca_cert:
        description:
          - CA certificate file to verify the server's certificate with. With it, O(source_admin.ssl_mode) defaults to
            C(verify_identity) - the certificate must be signed by this CA and name the host connected to.
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
          - An older spelling of O(source_admin.ssl_mode) with a CA - C(true) is C(verify_identity), C(false) is C(verify_ca).
            When both are set they must agree.
        type: bool
      ssl_mode:
        description:
          - How TLS is used, as the MySQL client's C(--ssl-mode).
          - C(preferred), the default without O(source_admin.ca_cert) - TLS when the server offers it, and the certificate is not
            verified - encrypted against eavesdropping, not against a man in the middle; a server that offers no TLS
            is reached without it.
          - C(required) - TLS or no connection; the certificate is not verified.
          - C(verify_ca) - TLS, and a certificate signed by O(source_admin.ca_cert) (without it, by a CA the system trusts).
          - C(verify_identity), the default with O(source_admin.ca_cert) - as C(verify_ca), and the certificate names the host
            connected to.
          - A certificate that is not accepted fails at once, naming the server and the fix; it is never retried
            as if the network were down.
        type: str
        choices: [preferred, required, verify_ca, verify_identity]
      connect_timeout:
        description:
          - Seconds to wait for the server to accept a connection.
        type: int
        default: 30
      read_timeout:
        description:
          - Seconds to wait for the server's answer (or to send to it) before the session counts as lost, which a move
            retries like any dropped connection - a server that froze or a network that drops packets does not hold
            the move for ever. TCP keepalive is on as well.
          - The move's statements are short (row batches, verify chunks); the longest wait is for row locks, which
            InnoDB ends itself after C(innodb_lock_wait_timeout) (50 s by default); keep this above that. Stopping an
            agent may wait about this long for a server that does not answer.
        type: int
        default: 60
"""
