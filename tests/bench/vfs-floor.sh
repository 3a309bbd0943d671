#!/bin/bash
# SPDX-License-Identifier: MIT
# vfs-floor.sh VIRTIOFSD GROUP SOCKET SOURCE [SOCKET SOURCE]...
# The shell floor of the virtiofsd bench (the one issue 5 quotes): start
# every virtiofsd at once, poll /proc/net/unix every 10 ms until every
# socket listens, then `systemd-notify --ready`; on SIGTERM, SIGTERM to
# the daemons and wait for them.
vfsd=$1 group=$2
shift 2
pids=()
declare -A want=()
while [ $# -ge 2 ]; do
	"$vfsd" --socket-path="$1" --socket-group="$group" -o source="$2" \
		-o xattr -o posix_acl --rlimit-nofile=1048576 --thread-pool-size=1 &
	pids+=($!)
	want[$1]=1
	shift 2
done
trap 'kill -TERM "${pids[@]}" 2>/dev/null; wait; exit 0' TERM
while :; do
	n=0
	# Num RefCount Protocol Flags Type St Inode Path; 00010000 = listening
	while read -r _ _ _ flags _ _ _ path; do
		[[ $flags == 00010000 && -n $path && -n ${want[$path]:-} ]] && n=$((n + 1))
	done </proc/net/unix
	[ "$n" -ge "${#want[@]}" ] && break
	sleep 0.01
done
systemd-notify --ready
wait
