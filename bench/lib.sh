# shellcheck shell=bash
# Helpers shared by the bench shell scripts (bench/load/run.sh, bench/load/session-store.sh,
# bench/stdio/bridges.sh); sourced, not run.

# "10s", "2m", "250ms" or "10" -> whole seconds (at least 1 for ms), to bound runs with `timeout`.
seconds_of() {
  local v=$1
  case $v in
    *ms) echo 1 ;;
    *s) echo "${v%s}" ;;
    *m) echo $((${v%m} * 60)) ;;
    *h) echo $((${v%h} * 3600)) ;;
    *) echo "$v" ;;
  esac
}

# True while process $1 exists and is not a zombie.
alive() {
  [[ -r /proc/$1/stat ]] && [[ $(sed 's/^.*) //' "/proc/$1/stat" | cut -d' ' -f1) != Z ]]
}

# A loopback port nothing listens on right now; the caller retries if it is taken before the bind.
pick_port() {
  local port
  for _ in $(seq 100); do
    port=$((20000 + RANDOM % 30000))
    if [[ -z $(ss -Htln "sport = :$port" 2>/dev/null) ]]; then echo "$port"; return 0; fi
  done
  return 1
}
