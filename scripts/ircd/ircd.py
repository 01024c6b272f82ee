#!/usr/bin/env python3
# ruff: noqa: E501, S105, S603, S607, PLW1509
# (daemon configs are long lines by nature; the commands are fixed, on loopback, run at test time;
# preexec_fn runs before any thread exists in these short-lived callers)
"""A private IRC network on loopback for tests and the try-out: InspIRCd 3 + Atheme services.

    ircd.py install           apt-get install inspircd atheme-services when missing (needs root)
    ircd.py start [DIR]       write configs under DIR (default .cache/ircd), start both, print ports
    ircd.py stop [DIR]        stop what `start` started, by the PIDs it recorded

Importable too (tests/irc/conftest.py does): `IrcServer(dir).start()`. Stdlib only, so it runs
before the project's venv exists.

Three client ports: `plain` and `tls` have flood limits off (test drivers fire 100 lines at
once), `limited` applies Libera-like limits (a burst, then about one command a second, and
"Excess Flood" disconnects instead of lagging) so a bot that floods gets killed, as on Libera.

`IrcServer(dir, profile="bench")` is the benchmark variant (bench/compare.py): up to 2,000
channels per client (a bot joined to 1,000 channels) and no `echo-message` / `labeled-response`
modules. With either offered, a bot that answers at once waits ~44 ms for the server's delayed
ACK unless it sets TCP_QUICKACK (Limnoria and Sopel do not), so the peers' latency would
measure a TCP timer rather than the bot.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DIR = ROOT / ".cache" / "ircd"
SERVER_NAME = "irc.test"
SERVICES_NAME = "services.test"
LINK_PASSWORD = "linkpass"  # loopback only; nothing else can reach the link port


class HarnessError(RuntimeError):
    pass


def binaries_present() -> bool:
    return shutil.which("inspircd", path=_path()) is not None and (
        shutil.which("atheme-services", path=_path()) is not None
    )


def _path() -> str:
    # Debian puts inspircd in /usr/sbin, which a non-login PATH may lack.
    return os.environ.get("PATH", "") + ":/usr/sbin:/usr/bin"


def install(timeout: float = 300) -> None:
    """Install Debian's packages if absent; raises HarnessError with the reason if it cannot."""
    if binaries_present():
        return
    if shutil.which("apt-get") is None:
        raise HarnessError("inspircd/atheme-services are missing and there is no apt-get to install them")
    if os.geteuid() != 0:
        raise HarnessError("inspircd/atheme-services are missing and installing them needs root")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for command in (
        ["apt-get", "update", "-qq"],
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "inspircd", "atheme-services"],
    ):
        try:
            subprocess.run(command, env=env, check=True, timeout=timeout, capture_output=True)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as error:
            output = getattr(error, "stderr", b"") or b""
            raise HarnessError(
                f"{' '.join(command)} failed: {error}\n{output.decode(errors='replace')}"
            ) from None
    if not binaries_present():
        raise HarnessError("apt-get install finished but inspircd/atheme-services are still missing")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Ports:
    plain: int
    tls: int
    limited: int
    link: int


PROFILES = ("test", "bench")


class IrcServer:
    def __init__(self, directory: Path = DEFAULT_DIR, ports: Ports | None = None, profile: str = "test") -> None:
        if profile not in PROFILES:
            raise HarnessError(f"unknown profile {profile!r} (one of {', '.join(PROFILES)})")
        self.profile = profile
        self.dir = directory.resolve()
        self.ports = ports or Ports(free_port(), free_port(), free_port(), free_port())
        self.cert = self.dir / "cert.pem"
        self.key = self.dir / "key.pem"
        self._ircd: subprocess.Popen[bytes] | None = None
        self._atheme: subprocess.Popen[bytes] | None = None

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self, timeout: float = 20) -> None:
        (self.dir / "atheme" / "var").mkdir(parents=True, exist_ok=True)
        self._write_cert()
        self._write_configs()
        self.start_ircd(timeout)
        self.start_services(timeout)
        (self.dir / "state.json").write_text(
            json.dumps({"ports": asdict(self.ports), "pids": self.pids(), "cert": str(self.cert)})
        )

    def start_ircd(self, timeout: float = 20) -> None:
        self._ircd = self._spawn(
            ["inspircd", "--runasroot", "--nofork", f"--config={self.dir / 'inspircd.conf'}"],
            self.dir / "inspircd.stdout",
        )
        self._wait_port(self.ports.plain, timeout, self._ircd)

    def start_services(self, timeout: float = 20) -> None:
        stdout = self.dir / "atheme" / "stdout"
        stdout.unlink(missing_ok=True)
        (self.dir / "atheme" / "var" / "pid").unlink(missing_ok=True)
        atheme = self.dir / "atheme"
        self._atheme = self._spawn(
            [
                "atheme-services",
                "-n",
                "-c",
                f"{atheme / 'atheme.conf'}",
                "-D",
                f"{atheme}",
                "-l",
                f"{atheme / 'var' / 'atheme.log'}",
                "-p",
                f"{atheme / 'var' / 'pid'}",
            ],
            stdout,
        )
        self.wait_services_linked(timeout, since=0)

    def wait_services_linked(self, timeout: float = 20, since: int = 0) -> None:
        """Atheme says so once it has burst to the ircd; only then are SASL and NickServ there."""
        stdout = self.dir / "atheme" / "stdout"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if stdout.exists() and stdout.read_text(errors="replace").count("finished synching") > since:
                return
            if self._atheme is not None and self._atheme.poll() is not None:
                raise HarnessError(
                    f"atheme exited {self._atheme.returncode}: {stdout.read_text(errors='replace')}"
                )
            time.sleep(0.02)
        raise HarnessError("atheme did not link to inspircd in time")

    def links_seen(self) -> int:
        stdout = self.dir / "atheme" / "stdout"
        return stdout.read_text(errors="replace").count("finished synching") if stdout.exists() else 0

    def stop_ircd(self) -> None:
        _terminate(self._ircd)
        self._ircd = None

    def restart_ircd(self, timeout: float = 20) -> None:
        """Stop and start the IRC server on the same ports; Atheme relinks by itself (recontime)."""
        links = self.links_seen()
        self.stop_ircd()
        self.start_ircd(timeout)
        self.wait_services_linked(timeout, since=links)

    def stop(self) -> None:
        _terminate(self._atheme)
        _terminate(self._ircd)
        self._atheme = self._ircd = None

    def pids(self) -> dict[str, int]:
        return {name: proc.pid for name, proc in (("inspircd", self._ircd), ("atheme", self._atheme)) if proc}

    # -- files --------------------------------------------------------------------------------

    def _write_cert(self) -> None:
        if self.cert.exists() and self.key.exists():
            return
        subprocess.run(
            [
                "openssl",
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                str(self.key),
                "-out",
                str(self.cert),
                "-days",
                "3650",
                "-subj",
                "/CN=localhost",
                "-addext",
                "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1",
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )

    def _write_configs(self) -> None:
        d, p = self.dir, self.ports
        (d / "motd.txt").write_text("meetbot test network\n")
        # Flood limits off by default ("unlimited" class); the "limited" port gets Libera-like ones.
        unlimited = 'threshold="1000000" commandrate="100000000" fakelag="off" recvq="1M" softsendq="16M" hardsendq="16M"'
        limited = 'threshold="20" commandrate="1000" fakelag="off" recvq="8K" softsendq="16M" hardsendq="16M"'
        bench = self.profile == "bench"
        maxchans = 2000 if bench else 100
        common = (
            'allow="*" timeout="60" pingfreq="120" localmax="10000" globalmax="10000" useident="no" '
            f'resolvehostnames="no" limit="10000" maxchans="{maxchans}" uniqueusername="no"'
        )
        # The bench profile leaves out the two capabilities that make a replying bot wait for
        # the server's delayed ACK (see the module docstring).
        echo = "" if bench else '<module name="ircv3_echomessage"> '
        labeled = "" if bench else '<module name="ircv3_labeledresponse"> '

        (d / "inspircd.conf").write_text(f"""\
<server name="{SERVER_NAME}" description="meetbot test ircd" network="TestNet" id="00A">
<admin name="admin" nick="admin" email="admin@localhost">
<bind address="127.0.0.1" port="{p.plain}" type="clients">
<bind address="::1" port="{p.plain}" type="clients">
<bind address="127.0.0.1" port="{p.tls}" type="clients" sslprofile="Clients">
<bind address="::1" port="{p.tls}" type="clients" sslprofile="Clients">
<bind address="127.0.0.1" port="{p.limited}" type="clients">
<bind address="127.0.0.1" port="{p.link}" type="servers">
<module name="ssl_gnutls">
<module name="sslinfo">
<sslprofile name="Clients" provider="gnutls" certfile="{self.cert}" keyfile="{self.key}" dhfile="" hash="sha256" requestclientcert="yes">
<power diepass="die" restartpass="restart">
<connect name="limited" port="{p.limited}" {common} {limited}>
<connect name="main" {common} {unlimited}>
<class name="All" commands="*" privs="*" usermodes="*" chanmodes="*">
<type name="Admin" classes="All">
<oper name="admin" password="admin" host="*@*" type="Admin">
<files motd="{d / "motd.txt"}">
<channels users="{maxchans}" opers="{maxchans}">
<dns server="127.0.0.1" timeout="1">
<pid file="{d / "inspircd.pid"}">
<options prefixquit="Quit: " syntaxhints="no" announcets="yes" hostintopic="yes" pingwarning="15" splitwhois="no" exemptchanops="" defaultmodes="not">
<security hideserver="" userstats="Pu" customversion="" flatlinks="no" hidesplits="no" hideulines="no" hidebans="no" maxtargets="20" runasuser="" runasgroup="">
<performance quietbursts="yes" softlimit="10240" somaxconn="128" netbuffersize="65536" clonesonconnect="no">
<limits maxline="512">
<log method="file" type="* -USERINPUT -USEROUTPUT" level="default" target="{d / "inspircd.log"}">
<module name="cap"> <module name="ircv3"> <module name="ircv3_servertime"> <module name="ircv3_msgid">
{echo}<module name="ircv3_accounttag"> <module name="ircv3_ctctags">
<module name="ircv3_batch"> {labeled}<module name="ircv3_capnotify">
<module name="ircv3_chghost"> <module name="ircv3_invitenotify"> <module name="chanhistory">
<module name="monitor"> <module name="namesx"> <module name="uhnames"> <module name="setname"> <module name="botmode">
<module name="services_account"> <module name="sasl"> <sasl target="{SERVICES_NAME}" requiressl="no">
<module name="spanningtree">
<link name="{SERVICES_NAME}" ipaddr="127.0.0.1" port="{p.link}" allowmask="127.0.0.0/8" sendpass="{LINK_PASSWORD}" recvpass="{LINK_PASSWORD}">
<uline server="{SERVICES_NAME}" silent="yes">
""")
        a = d / "atheme"
        (a / "atheme.conf").write_text(f"""\
loadmodule "modules/protocol/inspircd"; loadmodule "modules/backend/opensex"; loadmodule "modules/crypto/pbkdf2v2";
loadmodule "modules/nickserv/main"; loadmodule "modules/nickserv/register"; loadmodule "modules/nickserv/identify";
loadmodule "modules/nickserv/info"; loadmodule "modules/nickserv/help"; loadmodule "modules/nickserv/drop";
loadmodule "modules/nickserv/logout"; loadmodule "modules/nickserv/cert"; loadmodule "modules/saslserv/main";
loadmodule "modules/saslserv/plain"; loadmodule "modules/saslserv/external";
serverinfo {{ name = "{SERVICES_NAME}"; desc = "test services"; numeric = "00B"; recontime = 1; netname = "TestNet";
  hidehostsuffix = "users.test"; adminname = "admin"; adminemail = "admin@localhost"; registeremail = "noreply@localhost";
  mta = "/bin/true"; loglevel = {{ error; info; admin; network; }}; maxlogins = 50; maxusers = 50; mdlimit = 30;
  emaillimit = 10; emailtime = 300; auth = none; casemapping = rfc1459; }};
uplink "{SERVER_NAME}" {{ host = "127.0.0.1"; password = "{LINK_PASSWORD}"; port = {p.link}; }};
nickserv {{ nick = "NickServ"; user = "NickServ"; host = "{SERVICES_NAME}"; real = "Nickname Services"; maxnicks = 5; expire = 0; }};
saslserv {{ nick = "SaslServ"; user = "SaslServ"; host = "{SERVICES_NAME}"; real = "SASL Agent"; }};
logfile "{a / "var" / "atheme.log"}" {{ error; info; admin; network; register; }};
general {{ flood_msgs = 0; ratelimit_uses = 0; ratelimit_period = 0; kline_time = 7; commit_interval = 1;
  uplink_sendq_limit = 1048576; language = "en"; immune_level = immune; exempts {{ }}; }};
""")

    # -- processes ----------------------------------------------------------------------------

    def _spawn(self, argv: list[str], stdout: Path) -> subprocess.Popen[bytes]:
        exe = shutil.which(argv[0], path=_path())
        if exe is None:
            raise HarnessError(f"{argv[0]} is not installed (run: {sys.argv[0]} install)")
        with stdout.open("ab") as out:
            # InspIRCd 3.15 with ssl_gnutls segfaults on SIGTERM; keep the core file away.
            return subprocess.Popen(
                [exe, *argv[1:]],
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self.dir,
                preexec_fn=_no_core,
                start_new_session=True,
            )

    @staticmethod
    def _wait_port(port: int, timeout: float, proc: subprocess.Popen[bytes]) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), 0.5).close()
                return
            except OSError:
                if proc.poll() is not None:
                    raise HarnessError(f"inspircd exited {proc.returncode} (port {port} in use?)") from None
                time.sleep(0.01)
        raise HarnessError(f"inspircd did not listen on {port} within {timeout}s")


def _no_core() -> None:
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _terminate(proc: subprocess.Popen[bytes] | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def _stop_recorded(directory: Path) -> None:
    state = directory / "state.json"
    if not state.exists():
        return
    for pid in json.loads(state.read_text())["pids"].values():
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            continue
        for _ in range(100):
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)
    state.unlink()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("action", choices=["install", "start", "stop"])
    parser.add_argument("dir", nargs="?", type=Path, default=DEFAULT_DIR)
    parser.add_argument("--profile", choices=PROFILES, default="test", help="bench: see IrcServer")
    args = parser.parse_args(argv)
    try:
        if args.action == "install":
            install()
            print("inspircd and atheme-services are installed")
        elif args.action == "start":
            _stop_recorded(args.dir)
            server = IrcServer(args.dir, profile=args.profile)
            server.start()
            # The daemons outlive this command (own session); `stop` ends them by recorded PID.
            server._ircd = server._atheme = None
            print(
                json.dumps({"ports": asdict(server.ports), "cert": str(server.cert), "dir": str(server.dir)})
            )
        else:
            _stop_recorded(args.dir)
    except HarnessError as error:
        print(f"ircd: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
