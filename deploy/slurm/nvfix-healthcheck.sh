#!/bin/sh
# Slurm HealthCheckProgram for nvfix (slurm.conf):
#   HealthCheckProgram=/usr/share/nvfix/slurm/nvfix-healthcheck.sh
#   HealthCheckInterval=300
#   HealthCheckNodeState=ANY
# slurmd kills a health check that runs past 60 seconds, and a reload must never be cut short, so this hands
# `nvfix auto` to systemd as a transient unit and returns at once. The unit drains a mismatched node whose GPU is busy
# within seconds (reason `nvfix: <loaded> vs <library>`, exit 75), reloads and resumes an idle one, and resumes only
# a drain nvfix placed. While one run is still going, systemd refuses a second unit of the same name: nothing piles up.
# NVFIX_PLAYBOOK, NVFIX_BIN and SYSTEMD_RUN override the defaults (the tests use them).
# The playbook by name: /etc/nvfix/playbooks/slurm-node.yaml when the admin has one, else the shipped one.
playbook=${NVFIX_PLAYBOOK:-slurm-node}
nvfix=${NVFIX_BIN:-/usr/bin/nvfix}
systemd_run=${SYSTEMD_RUN:-/usr/bin/systemd-run}
"$systemd_run" --unit=nvfix-auto-healthcheck --no-block --quiet --collect \
  --property=TimeoutStartSec=30min -- "$nvfix" --color never auto --playbook "$playbook" || true
# The health check itself never marks the node: nvfix's own drain (with its reason) is the quarantine.
exit 0
