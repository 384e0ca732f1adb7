#!/usr/bin/env bash
# Debian packages the tests use, installed where missing:
# - chromium: the dashboard's browser test (driven by playwright-core; never a browser download);
# - dataset-fashion-mnist: the Fashion-MNIST example (IDX files under /usr/share/datasets/fashion-mnist);
# - prometheus: its promtool checks what GET /metrics serves (the metrics test). The package is large
#   (~96 MB installed) and holds Prometheus's server too, which Debian starts where systemd runs;
#   only promtool is used. Installed without its recommends (the node exporter);
# - slurmctld, slurmd, slurm-client, munge: the Slurm test (test/integration/slurm.test.ts) runs a
#   controller and nodes in network namespaces, from a generated slurm.conf (never /etc/slurm);
# - podman, runc, netavark, aardvark-dns, catatonit, mmdebstrap: the container test
#   (test/integration/container.test.ts) builds a base image from Debian's nodejs (no registry is
#   reachable) and the project's image on it, and runs it on a podman network (netavark, with
#   aardvark-dns naming containers) and as pods (podman kube play, whose pause process is catatonit).
# Without apt-get, or without the right to use it (not root, no password-less sudo), the
# tests that need them skip, saying why (exit 0). An install that could run and failed
# exits 1: in CI those tests would otherwise skip with the build green.
set -uo pipefail
missing_packages() {
  missing=()
  [ -x /usr/bin/chromium ] || missing+=(chromium)
  [ -d /usr/share/datasets/fashion-mnist ] || missing+=(dataset-fashion-mnist)
  [ -x /usr/bin/promtool ] || missing+=(prometheus)
  [ -x /usr/sbin/slurmctld ] || missing+=(slurmctld)
  [ -x /usr/sbin/slurmd ] || missing+=(slurmd)
  [ -x /usr/bin/sbatch ] || missing+=(slurm-client)
  [ -x /usr/sbin/munged ] || missing+=(munge)
  [ -x /usr/bin/podman ] || missing+=(podman)
  [ -x /usr/sbin/runc ] || missing+=(runc)
  [ -x /usr/lib/podman/netavark ] || missing+=(netavark)
  [ -x /usr/lib/podman/aardvark-dns ] || missing+=(aardvark-dns)
  [ -x /usr/bin/catatonit ] || missing+=(catatonit)
  [ -x /usr/bin/mmdebstrap ] || missing+=(mmdebstrap)
}
missing_packages
[ ${#missing[@]} -eq 0 ] && exit 0
if ! command -v apt-get >/dev/null; then
  echo "system-deps: no apt-get here; tests needing ${missing[*]} will skip" >&2
  exit 0
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if ! command -v sudo >/dev/null || ! sudo -n true 2>/dev/null; then
    echo "system-deps: installing ${missing[*]} needs root (or sudo without a password); tests needing them will skip" >&2
    exit 0
  fi
  sudo="sudo -n"
fi
echo "system-deps: installing ${missing[*]} (Debian packages)" >&2
# the missing packages' own dependencies, and only those
install() {
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}
if ! { install || { $sudo apt-get update -qq >/dev/null && install; }; }; then
  missing_packages
  if [ ${#missing[@]} -gt 0 ]; then
    echo "system-deps: apt-get could not install ${missing[*]}" >&2
    exit 1
  fi
fi
exit 0
