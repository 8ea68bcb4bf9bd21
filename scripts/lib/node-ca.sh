# Sourced by scripts/test.sh: node_ca_on_first_use.
#
# Node 20 builds its whole CA store as a process starts when NODE_EXTRA_CA_CERTS is set: its own roots and the file's,
# parsed before the first line of JavaScript runs (`node -e 0` here: ~74 ms of CPU with the system bundle named, ~23
# without; 20 runs each, 2026-11-27). A test run starts thousands of Node processes (the tests' CLI runs, npm, vitest's
# workers, the Bazel repository rules' scripts), few of which open a TLS connection.
#
# node_ca_on_first_use: where NODE_EXTRA_CA_CERTS names OpenSSL's store itself (SSL_CERT_FILE is the same file, as
# Debian-based CI images set both to the system bundle), it puts `--use-openssl-ca` in NODE_OPTIONS instead: Node then
# trusts that store, read on a process's first TLS connection. The roots trusted are the store's, without Node's
# bundled ones that the store lacks; the connections of a test run (the npm registry, through a proxy whose CA is in
# that store; the tests' own registries, whose CAs the tests pass themselves) need no other. Anything else (no
# SSL_CERT_FILE, another file, `--use-bundled-ca` already chosen): nothing changes. test/unit/node-ca.test.ts.
node_ca_on_first_use() {
  [[ -n "${NODE_EXTRA_CA_CERTS:-}" && -n "${SSL_CERT_FILE:-}" && -f "$NODE_EXTRA_CA_CERTS" && -f "$SSL_CERT_FILE" ]] || return 0
  [[ "$(realpath "$NODE_EXTRA_CA_CERTS")" == "$(realpath "$SSL_CERT_FILE")" ]] || return 0
  case " ${NODE_OPTIONS:-} " in
    *" --use-bundled-ca "*) return 0 ;;
    *" --use-openssl-ca "*) ;;
    *) export NODE_OPTIONS="${NODE_OPTIONS:+$NODE_OPTIONS }--use-openssl-ca" ;;
  esac
  unset NODE_EXTRA_CA_CERTS
}
