# Sourced by the scripts: sets $DENO to a Deno 2.9.6 binary, installing it from npm into
# .tools/deno when missing. Set SCHIED_DENO to use another binary.
SCHIED_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export DENO_NO_UPDATE_CHECK=1
DENO_VERSION=2.9.6
if [ -n "${SCHIED_DENO:-}" ]; then
  DENO=$SCHIED_DENO
else
  DENO=$SCHIED_ROOT/.tools/deno/node_modules/.bin/deno
  if [ ! -x "$DENO" ] || [ "$("$DENO" --version 2>/dev/null | head -n1 | cut -d' ' -f2)" != "$DENO_VERSION" ]; then
    echo "schied: installing Deno $DENO_VERSION from npm into .tools/deno …" >&2
    mkdir -p "$SCHIED_ROOT/.tools/deno"
    printf '{"private":true,"dependencies":{"deno":"%s"}}\n' "$DENO_VERSION" >"$SCHIED_ROOT/.tools/deno/package.json"
    (cd "$SCHIED_ROOT/.tools/deno" && npm install --no-audit --no-fund --loglevel=error >&2) || {
      echo "schied: error: cannot install Deno from npm" >&2
      echo "schied: hint: install Deno $DENO_VERSION yourself and set SCHIED_DENO=/path/to/deno" >&2
      exit 1
    }
  fi
fi
