"""The simulated phone's own programs: mksh as `sh`, toybox's applets, and small scripts in the
place of Android's binaries (getprop, dumpsys, pm, am, simpleperf) and of the kernel's view of
the phone's CPUs (a taskset in front of toybox's).

A real phone's /system/bin holds mksh and toybox (Android 6+), plus Android's own programs. The
simulator binds this host's `mksh` and `toybox` (Debian packages) at /system/bin and links every
applet to toybox; nothing of this host's GNU userland is on the phone's PATH. The scripts print
what the real programs print, in their formats (the sources are named at each one); they are
POSIX shell, run by mksh in the sandbox (by this host's /bin/sh with --unsafe-host-shell).

What is not real: the scripts read the phone's state from /data/system/sim (written by the
simulator: what the phone's services know), which a real phone's shell could not read; a file
the phone's SELinux policy refuses is a file of mode 000 here (same "Permission denied" error,
but `ls -l` shows the mode); the phone's CPUs are mapped onto this host's by the taskset script.
"""

from __future__ import annotations

import shutil
import subprocess
from functools import cache

from deploy.devices.errors import SimulatorError

#: Where the phone's programs are, as its shell sees them.
SYSTEM_BIN = "/system/bin"
#: The folder (in the phone) holding what the simulated phone's services know.
STATE_DIR = "/data/system/sim"
#: Environment variable holding the command prefix the taskset script puts before a program.
EXEC_WRAPPER_ENV = "MOBILENET_DEPLOY_EXEC_WRAPPER"
#: toybox applets a phone does not have (or that would mislead: `su` on a user build).
NOT_ON_A_PHONE = frozenset({"su", "login", "passwd", "mkpasswd", "sh"})

_INSTALL = "apt-get install mksh toybox"


@cache
def host_tool(name: str) -> str | None:
    """This host's `mksh` or `toybox` (the phone's shell and tools), None when not installed."""
    return shutil.which(name)


def phone_binaries() -> dict[str, str]:
    """Phone path -> this host's binary bound there: mksh (the shell) and toybox (the tools).

    Raises SimulatorError when either is missing (a phone's shell is mksh and its tools toybox).
    """
    found = {name: host_tool(name) for name in ("mksh", "toybox")}
    missing = [name for name, path in found.items() if path is None]
    if missing:
        raise SimulatorError(
            f"the simulated phone's shell is mksh and its tools are toybox, as on a phone, and "
            f"{' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} not installed: "
            f"{_INSTALL} (or pass --unsafe-host-shell to use this host's shell unconfined)"
        )
    return {f"{SYSTEM_BIN}/{name}": str(path) for name, path in found.items()}


@cache
def toybox_applets(toybox: str) -> tuple[str, ...]:
    """The applets this toybox provides (`toybox` alone lists them)."""
    try:
        out = subprocess.run([toybox], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SimulatorError(f"cannot list the applets of {toybox} ({exc}): {_INSTALL}") from None
    return tuple(sorted(name for name in out.split() if name not in NOT_ON_A_PHONE))


def render(template: str, **values: str) -> str:
    """`template` with each @NAME@ replaced by its value (shell text keeps its own braces)."""
    text = template
    for name, value in values.items():
        text = text.replace(f"@{name}@", value)
    return text


GETPROP = r"""#!@SH@
# getprop of a simulated phone (Android's is toolbox's, then toybox's): one value, or all of them
# as "[key]: [value]". The values are in @SEEN@/system/props.txt.
props=@SEEN@/system/props.txt
if [ $# -eq 0 ]; then cat "$props"; exit 0; fi
while IFS= read -r line; do
  case "$line" in
    "[$1]: ["*) value=${line#"[$1]: ["}; printf '%s\n' "${value%]}"; exit 0;;
  esac
done < "$props"
printf '%s\n' "$2"
"""

TASKSET = r"""#!@SH@
# taskset of a simulated phone: toybox's taskset, with the phone's CPUs mapped onto this host's.
# As the kernel does, a mask is intersected with the online CPUs
# (@SEEN@/sys/devices/system/cpu/online) and the shell's allowed CPUs (@ALLOWED@); when nothing
# is left it fails with EINVAL, in toybox's words. `taskset -p PID` reports that intersection.
# The highest phone core left maps onto a host core, and the profile's exec wrapper
# ($@EXEC_ENV@, e.g. qemu) goes before a pushed program (one named by its path).
real='@REAL@'
cores=@CORES@
allowed='@ALLOWED@'
online=$(cat @SEEN@/sys/devices/system/cpu/online 2>/dev/null)
in_list() {  # CPU LIST: is CPU in a kernel CPU list such as 0-3,5 ?
  _cpu=$1; _saved=$IFS; IFS=,
  set -- $2
  IFS=$_saved
  for _part in "$@"; do
    if [ "$_cpu" -ge "${_part%-*}" ] 2>/dev/null && [ "$_cpu" -le "${_part#*-}" ]; then return 0; fi
  done
  return 1
}
usable() { in_list "$1" "$online" && in_list "$1" "$allowed"; }
case "$1" in
  -p)
    if [ $# -eq 2 ]; then
      mask=0; cpu=0
      while [ $cpu -lt $cores ]; do
        if usable $cpu; then mask=$((mask | (1 << cpu))); fi
        cpu=$((cpu + 1))
      done
      printf "pid %s's current affinity mask: %x\n" "$2" "$mask"
      exit 0
    fi
    exec $real "$@";;
  -*|'') exec $real "$@";;
esac
mask=$1; shift
case "$mask" in *[!0-9a-fA-F]*|'') echo "taskset: bad mask '$mask'" >&2; exit 1;; esac
bits=$((0x$mask)); cpu=0; chosen=-1
while [ $bits -gt 0 ]; do
  if [ $((bits & 1)) -eq 1 ] && [ $cpu -lt $cores ] && usable $cpu; then chosen=$cpu; fi
  bits=$((bits >> 1)); cpu=$((cpu + 1))
done
if [ $chosen -lt 0 ]; then
  echo "taskset: failed to set pid $$'s affinity: Invalid argument" >&2
  exit 1
fi
host=$(nproc 2>/dev/null || echo 1)
if [ $chosen -ge $host ]; then chosen=$((host - 1)); fi
case "$1" in  # the phone's own programs (a bare name, /system...) run natively, pushed ones not
  /system/*|/apex/*|/vendor/*|/product/*) wrapper='';;
  */*) wrapper=${@EXEC_ENV@};;
  *) wrapper='';;
esac
exec $real $(printf %x $((1 << chosen))) $wrapper "$@"
"""

# `dumpsys battery`: BatteryService.dumpInternal (frameworks/base, Android 10-14); the lines as
# published for a Samsung phone (gh0st.tistory.com/6) and the AOSP source.
# `dumpsys thermalservice`: ThermalManagerService.dump (Android 10+), as published for a Samsung
# A52 5G on Android 12 (android.stackexchange.com/questions/246774).
# A refused dump: DumpUtils.checkDumpPermission (its "from from" is Android's own).
# A service the phone does not have: dumpsys's "Can't find service: NAME".
DUMPSYS = r"""#!@SH@
# dumpsys of a simulated phone: battery, thermalservice and package, in Android's formats (the
# sources are named in deploy/devices/simulator/android_tools.py). The values come from
# @SEEN@@STATE_DIR@ (what the phone's services know).
state=@SEEN@@STATE_DIR@
celsius() { echo "$(($1 / 1000)).$((($1 % 1000) / 100))"; }
refuse() {
  echo "Permission Denial: can't dump $1 from from pid=$$, uid=2000" \
    "due to missing android.permission.DUMP permission"
  exit 0
}
temperatures() {
  while read -r kind name milli; do
    [ -n "$name" ] || continue
    printf '\tTemperature{mValue=%s, mType=%s, mName=%s, mStatus=0}\n' \
      "$(celsius $milli)" "$kind" "$name"
  done < $state/thermal
}
case "$1" in
battery)
  [ "@DUMP_DENIED@" = 1 ] && refuse BatteryService
  . $state/battery
  echo "Current Battery Service state:"
  echo "  AC powered: $ac"
  echo "  USB powered: $usb"
  echo "  Wireless powered: false"
  echo "  Max charging current: 0"
  echo "  Max charging voltage: 0"
  echo "  Charge counter: 2874000"
  echo "  status: $status"
  echo "  health: 2"
  echo "  present: true"
  echo "  level: $level"
  echo "  scale: 100"
  echo "  voltage: 3987"
  echo "  temperature: $temperature"
  echo "  technology: Li-ion"
  ;;
thermalservice)
  if [ "@THERMALSERVICE@" != 1 ]; then echo "Can't find service: thermalservice" >&2; exit 0; fi
  [ "@DUMP_DENIED@" = 1 ] && refuse ThermalManagerService
  echo "IsStatusOverride: false"
  echo "ThermalEventListeners:"
  printf '\tcallbacks: 1\n\tkilled: false\n\tbroadcasts count: -1\n'
  echo "ThermalStatusListeners:"
  printf '\tcallbacks: 1\n\tkilled: false\n\tbroadcasts count: -1\n'
  echo "Thermal Status: 0"
  echo "Cached temperatures:"
  temperatures
  echo "HAL Ready: true"
  echo "HAL connection:"
  printf '\tThermalHAL 2.0 connected: yes\n'
  echo "Current temperatures from HAL:"
  temperatures
  echo "Current cooling devices from HAL:"
  echo "Temperature static thresholds from HAL:"
  ;;
package)
  [ "@DUMP_DENIED@" = 1 ] && refuse package
  ;;  # nothing is installed on a simulated phone: no "versionName=" line
'')
  echo "Currently running services:"
  echo "  battery"
  [ "@THERMALSERVICE@" = 1 ] && echo "  thermalservice"
  echo "  package"
  ;;
*)
  echo "Can't find service: $1" >&2
  ;;
esac
"""

# `pm install` failures: PackageManagerShellCommand ("Failure [CODE: message]", and for a file it
# cannot open the two "Error:"/"Consider" lines). A phone that refuses installs over USB (Xiaomi
# MIUI, some OPPO/vivo builds) answers INSTALL_FAILED_USER_RESTRICTED.
PM = r"""#!@SH@
# pm of a simulated phone: it runs no apps, so `pm install` fails, the way a phone says it.
case "$1" in
install)
  shift; apk=''
  for arg in "$@"; do case "$arg" in -*) ;; *) apk=$arg;; esac; done
  if [ -z "$apk" ] || [ ! -f "$apk" ]; then
    echo "Error: Unable to open file: $apk"
    echo "Consider using a file under /data/local/tmp/"
    exit 1
  fi
  if [ "@INSTALL_BLOCKED@" = 1 ]; then
    echo "Failure [INSTALL_FAILED_USER_RESTRICTED: Install canceled by user]"
    exit 1
  fi
  if [ "$(head -c 2 "$apk")" != PK ]; then
    echo "Failure [INSTALL_PARSE_FAILED_NOT_APK: Failed to parse $apk: not a zip archive]"
    exit 1
  fi
  echo "Failure [INSTALL_FAILED_ABORTED: this simulated phone cannot install apps]"
  exit 1
  ;;
list) echo "package:com.android.shell";;
path) exit 1;;
*) echo "usage: pm install [-r] [-g] PATH (simulated phone)" >&2; exit 1;;
esac
"""

# `am start -W` of an activity that is not installed: ActivityManagerShellCommand prints
# "Error type 3" and "Error: Activity class {...} does not exist." (exit status 0).
AM = r"""#!@SH@
# am of a simulated phone: no app is installed, so every activity is missing.
case "$1" in
start|start-activity)
  component=''; previous=''
  for arg in "$@"; do
    if [ "$previous" = -n ]; then component=$arg; fi
    previous=$arg
  done
  package=${component%%/*}; class=${component#*/}
  case "$class" in .*) class=$package$class;; esac
  echo "Starting: Intent { cmp=$component (has extras) }"
  echo "Error type 3"
  echo "Error: Activity class {$package/$class} does not exist."
  ;;
force-stop|kill) ;;
*) echo "usage: am start|force-stop ... (simulated phone)" >&2; exit 1;;
esac
"""

SIMPLEPERF = r"""#!@SH@
# simpleperf of a simulated phone: present, as on stock Android 9+, but with no counters to read.
case "$1" in --version|version) echo "Simpleperf version 1.build.simulated"; exit 0;; esac
echo "simpleperf: a simulated phone has no hardware performance counters" >&2
exit 1
"""

# Android 8 to 10 have BSD grep from toolbox, not toybox's. A stand-in: it takes BSD grep's
# one-letter options only (our commands use -q), refuses the rest with BSD grep's usage line,
# and leaves the matching to toybox's grep.
TOOLBOX_GREP = r"""#!@SH@
# grep of an Android 8-10 phone (toolbox: BSD grep), simulated: BSD grep's one-letter options,
# others refused with its usage; toybox's grep does the matching.
for arg in "$@"; do
  case "$arg" in
    --) break;;
    --*|-*[!abceEFGHhIiLlnoqsvwxz]*)
      echo "usage: grep [-abceEFGHhIiLlnoqsvwxz] [-e pattern] [file ...]" >&2
      exit 2;;
    -*) ;;
    *) break;;
  esac
done
exec @REAL_GREP@ "$@"
"""
