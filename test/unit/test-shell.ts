/**
 * The POSIX sh that shell-level unit tests run programs with: $NBDFORGE_TEST_SH when set (the
 * el7-userland tier sets it to bash 4.2 invoked as `sh`, i.e. in POSIX mode, as on CentOS 7), else
 * the test's own default.
 */
export function testShell(fallback: string): string {
  return process.env.NBDFORGE_TEST_SH || fallback;
}
