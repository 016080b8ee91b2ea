/*
 * server/auth/auth.h — the auth room: SigV4 verification, access keys and
 * their policies (docs/security.md).
 *
 *   auth.c      the module: the authenticate step and the access check,
 *               the key table (reloaded when the catalog's access keys
 *               change, so revocations and policy edits apply at once)
 *   verify.c    SigV4 verification of one request
 *   policy.c    IAM-shaped policies
 *   keys_cli.c  `framelogd keys ...`
 *
 * The rule: with no access key in the catalog the server runs open (for
 * loopback development; it says so at start); once any key exists, every
 * AWS request must be signed by an active key whose policy allows what it
 * asks.
 */
#ifndef FL_SERVER_AUTH_AUTH_H
#define FL_SERVER_AUTH_AUTH_H

#include "server/core/module.h"

extern const fl_module_t fl_auth_module;

/* `framelogd keys ...` (argv[0] is "keys"): the exit code. */
int fl_auth_keys_main(int argc, char **argv);

#endif
