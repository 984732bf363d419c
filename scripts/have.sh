# Sourced by dev.sh and test.sh: whether a program is installed.

# mariadbd lives in /usr/sbin, which is not in a normal user's PATH on Debian.
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"

have() {
    command -v "$1" >/dev/null 2>&1
}

# PostgreSQL's server binaries are usually only in /usr/lib/postgresql/<version>/bin.
have_pg() {
    have "$1" && return 0
    local f
    for f in /usr/lib/postgresql/*/bin/"$1"; do
        [ -x "$f" ] && return 0
    done
    return 1
}
