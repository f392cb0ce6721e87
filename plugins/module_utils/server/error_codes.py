"""The MariaDB server and client error numbers that dbferry acts on, by name.

A driver exception carries only the number (``error_code()`` in
server/connection.py reads it); the code decides by these names so that a
reader sees which failure a branch is about, and each number is written once.
The names are the server's own (``ER_*`` from the server, ``CR_*`` from the
client library), as in the MariaDB manual's error list.
"""

# Server errors (the server refused or ended a statement).
ER_DBACCESS_DENIED_ERROR = 1044  # the account may not use the database it connects to
ER_ACCESS_DENIED_ERROR = 1045  # wrong user name or password
ER_SERVER_SHUTDOWN = 1053  # the server is shutting down
ER_NO_SUCH_THREAD = 1094  # KILL of a session that has already ended
ER_HOST_IS_BLOCKED = 1129  # too many connection errors from this host: FLUSH HOSTS
ER_HOST_NOT_PRIVILEGED = 1130  # no account for the host the client connects from
ER_LOCK_WAIT_TIMEOUT = 1205  # a lock (row, table or metadata) was not granted in time
ER_LOCK_DEADLOCK = 1213  # the transaction was chosen as a deadlock's victim and rolled back
ER_SPECIFIC_ACCESS_DENIED_ERROR = 1227  # a privilege such as SUPER or REPLICATION SLAVE is missing
ER_MASTER_FATAL_ERROR_READING_BINLOG = 1236  # the binlog dump cannot serve the position asked for
ER_OPTION_PREVENTS_STATEMENT = 1290  # refused by a server setting, here read_only
ER_CONNECTION_KILLED = 1927  # the session was killed (MariaDB's number)
ER_LOCK_NOWAIT = 3572  # MySQL 8: a NOWAIT locking read met a lock (MariaDB says ER_LOCK_WAIT_TIMEOUT)
ER_CLIENT_INTERACTION_TIMEOUT = 4031  # the server closed an idle session (wait_timeout) and said so

# Client errors (the driver could not reach or keep the server).
CR_CONNECTION_ERROR = 2002  # cannot connect through the unix socket
CR_CONN_HOST_ERROR = 2003  # cannot connect to the host and port
CR_UNKNOWN_HOST = 2005  # the host name does not resolve
CR_SERVER_GONE_ERROR = 2006  # the server has gone away (the connection was closed)
CR_SERVER_LOST = 2013  # the connection was lost during a query, or a read timed out
CR_SSL_CONNECTION_ERROR = 2026  # the TLS handshake failed
