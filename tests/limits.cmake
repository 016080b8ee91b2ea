# The limits that keep one client from hurting others, and the TLS policy
# (docs/security.md): the real framelogd with real sockets, curl, openssl
# and the AWS CLI.
fl_add_test(test_server_limits SOURCES test_server_limits.c LIBS fl_media PkgConfig::SSL
            PkgConfig::CRYPTO TIMEOUT 600)
add_dependencies(test_server_limits framelogd)
