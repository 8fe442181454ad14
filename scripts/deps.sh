#!/usr/bin/env bash
# Installs what the tests need on a fresh Debian machine: Debian packages
# (only those missing), the pinned npm tools and the Go modules. Safe to run
# again; it does nothing when everything is there.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v java >/dev/null 2>&1 || need+=(openjdk-17-jre-headless)
command -v llvm-symbolizer >/dev/null 2>&1 || need+=(llvm)
command -v addr2line >/dev/null 2>&1 || need+=(binutils)
command -v gcc >/dev/null 2>&1 || need+=(gcc)
command -v g++ >/dev/null 2>&1 || need+=(g++)
command -v dwz >/dev/null 2>&1 || need+=(dwz)
command -v debuginfod >/dev/null 2>&1 || need+=(debuginfod)
command -v eu-readelf >/dev/null 2>&1 || need+=(elfutils)
command -v clang >/dev/null 2>&1 || need+=(clang)
command -v unshare >/dev/null 2>&1 || need+=(util-linux)
command -v python3 >/dev/null 2>&1 || need+=(python3)
command -v rustc >/dev/null 2>&1 || need+=(rustc) # sourcebundle checks line splitting and lower-casing against Rust's own
# Crash dumps of real crashes: arm64 programs cross-compiled and run under
# qemu-user, gdb-multiarch for their reference backtraces; lld links PE files.
command -v gdb >/dev/null 2>&1 || need+=(gdb)
command -v gdb-multiarch >/dev/null 2>&1 || need+=(gdb-multiarch)
command -v qemu-aarch64 >/dev/null 2>&1 || need+=(qemu-user)
command -v aarch64-linux-gnu-gcc >/dev/null 2>&1 || need+=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross)
command -v ld.lld >/dev/null 2>&1 || need+=(lld)
command -v stress-ng >/dev/null 2>&1 || need+=(stress-ng)
command -v llvm-symbolizer-19 >/dev/null 2>&1 || need+=(llvm-19) # PDB lookups: LLVM 14's symbolizer misplaces lines inside inlined functions in PDBs
command -v gcab >/dev/null 2>&1 || need+=(gcab) # CAB-compressed symstore files (.pd_, .dl_)
command -v chromium >/dev/null 2>&1 || need+=(chromium) # the local console's tests drive a headless Chromium (chromedp)
if [ ${#need[@]} -gt 0 ]; then
  echo "deps: installing Debian packages: ${need[*]}"
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "deps: installing npm tools"
  npm ci --no-audit --no-fund --loglevel=error
fi

go mod download

# cfn-lint comes preinstalled with the machine's Python tools; it cannot be
# installed from here, so say so plainly if it is missing.
command -v cfn-lint >/dev/null 2>&1 || echo "deps: cfn-lint is not on PATH; the template test will fail (it is a preinstalled tool)" >&2
