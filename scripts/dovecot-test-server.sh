#!/usr/bin/env bash
# A throw-away IMAP server for the tests: Dovecot on 127.0.0.1:PORT (plain or STARTTLS) and
# 127.0.0.1:TLS_PORT (implicit TLS) with one user and a maildir, everything under DIR (config,
# passwords, mail, logs, and a self-signed certificate for 127.0.0.1 in DIR/cert.pem, to trust
# as a CA). It runs in the foreground until killed.
#   usage: scripts/dovecot-test-server.sh DIR PORT USER PASSWORD TLS_PORT
# Needs Debian's dovecot-imapd (scripts/install-dovecot.sh). Nothing outside DIR is touched.
set -euo pipefail
dir=$1 port=$2 user=$3 password=$4 tls_port=$5
dovecot=$(command -v dovecot || echo /usr/sbin/dovecot)
[ -x "$dovecot" ] || { echo "dovecot is not installed (scripts/install-dovecot.sh)" >&2; exit 2; }
mkdir -p "$dir/run" "$dir/state" "$dir/mail"
chmod 755 "$dir" "$dir/run"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=127.0.0.1" \
  -addext "subjectAltName=IP:127.0.0.1" -keyout "$dir/key.pem" -out "$dir/cert.pem" 2>/dev/null
chmod 644 "$dir/cert.pem" "$dir/key.pem"
# nodelay: a wrong password is refused at once (the tests try wrong passwords).
printf '%s:{PLAIN}%s::::::nodelay=y\n' "$user" "$password" > "$dir/passwd"
if [ "$(id -u)" -eq 0 ]; then
  # As root, Dovecot refuses to keep mail as root: the mail is the dovecot user's.
  uid=$(id -u dovecot) gid=$(id -g dovecot)
  chown "$uid:$gid" "$dir/mail"
  identity="default_internal_user = dovecot
default_login_user = dovenull
first_valid_uid = 0"
else
  uid=$(id -u) gid=$(id -g)
  identity="default_internal_user = $(id -un)
default_login_user = $(id -un)
default_internal_group = $(id -gn)"
fi
cat > "$dir/dovecot.conf" <<CONF
protocols = imap
listen = 127.0.0.1
base_dir = $dir/run
state_dir = $dir/state
log_path = $dir/dovecot.log
info_log_path = $dir/dovecot.log
ssl = yes
ssl_cert = <$dir/cert.pem
ssl_key = <$dir/key.pem
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
mail_location = maildir:$dir/mail/%u
$identity
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u $dir/passwd
}
userdb {
  driver = static
  args = uid=$uid gid=$gid home=$dir/mail/%u
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = $port
  }
  inet_listener imaps {
    address = 127.0.0.1
    port = $tls_port
    ssl = yes
  }
}
service imap {
  process_limit = 50
}
service anvil {
  chroot =
  # No growing penalty for this IP after wrong passwords (a test server).
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
service imap-login {
  chroot =
}
namespace inbox {
  inbox = yes
  mailbox Processed {
    auto = create
  }
}
CONF
exec "$dovecot" -F -c "$dir/dovecot.conf"
