
use builtin;
use str;

set edit:completion:arg-completer[nvfix] = {|@words|
    fn spaces {|n|
        builtin:repeat $n ' ' | str:join ''
    }
    fn cand {|text desc|
        edit:complex-candidate $text &display=$text' '(spaces (- 14 (wcswidth $text)))$desc
    }
    var command = 'nvfix'
    for word $words[1..-1] {
        if (str:has-prefix $word '-') {
            break
        }
        set command = $command';'$word
    }
    var completions = [
        &'nvfix'= {
            cand --root 'Host root to inspect: every file is read under it (a fixture tree, a mounted image)'
            cand --nvml-lib 'NVML library to load [default: the system''s libnvidia-ml.so.1 when --root is /; not checked otherwise]'
            cand --color 'When to use colour in human output; auto: on a terminal, unless NO_COLOR, CLICOLOR=0 or TERM=dumb (CLICOLOR_FORCE=1 forces it)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
            cand diagnose 'Explain the driver''s state: what is loaded, what is installed, what changed, who holds the GPU, what to do'
            cand ps 'List the processes that hold the GPU (open /dev/nvidia* or DRM nodes, mapped driver libraries)'
            cand reload 'Swap the NVIDIA kernel modules without a reboot: stop the GPU''s holders, unload, load, verify (journaled)'
            cand verify 'Check the driver after a reload: NVML initialises, NVML == module == library version, no new API mismatch'
            cand hold 'Pin the installed driver packages (apt-mark hold + unattended-upgrades blacklist, or dnf versionlock)'
            cand metrics 'Write node_exporter textfile metrics: the verdict, the action, the versions, the GPU holders'
            cand check 'Read-only check in a monitoring engine''s format: Nagios, node-problem-detector, Prometheus textfile, JSON'
            cand auto 'Runbook mode: diagnose, then reload or reboot within a playbook''s policy; exit status says what happened'
            cand sentinel 'kured''s reboot sentinel: exit 0 only when a reboot is needed, would fix the driver, and no reload can'
            cand reboot 'Reboot safely into a kernel whose NVIDIA module matches the library, after checking every guard'
            cand playbook 'Work with playbooks (the policy `nvfix auto` acts within)'
            cand upgrade 'Upgrade a held driver as one planned step: plan, trial build, install, reload, verify, hold again (journaled)'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'nvfix;diagnose'= {
            cand --root 'Host root to inspect: every file is read under it (a fixture tree, a mounted image)'
            cand --nvml-lib 'NVML library to load [default: the system''s libnvidia-ml.so.1 when --root is /; not checked otherwise]'
            cand --color 'When to use colour in human output; auto: on a terminal, unless NO_COLOR, CLICOLOR=0 or TERM=dumb (CLICOLOR_FORCE=1 forces it)'
            cand --json 'Print one JSON object (the documented, stable contract) instead of the report'
            cand --no-holders 'Do not scan processes for GPU holders'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'nvfix;ps'= {
            cand --root 'Host root to inspect: every file is read under it (a fixture tree, a mounted image)'
            cand --nvml-lib 'NVML library to load [default: the system''s libnvidia-ml.so.1 when --root is /; not checked otherwise]'
            cand --color 'When to use colour in human output; auto: on a terminal, unless NO_COLOR, CLICOLOR=0 or TERM=dumb (CLICOLOR_FORCE=1 forces it)'
            cand --json 'Print the holders as a JSON array'
            cand --all 'Also list processes that only map the driver libraries (libcuda, libnvidia-ml) without a device open — e.g. a job whose CUDA init failed during the mismatch and stays broken until restarted. Slower: reads every process''s memory maps'
            cand --wide 'Print every column in full; by default the table fits the terminal (80 columns when not a terminal), long cells cut with `…`'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'nvfix;reload'= {
            cand --grace 'Seconds a process gets to exit after SIGTERM (at most 3600)'
            cand --module-timeout 'Seconds each modprobe may take; past it the command is stopped (a module stuck in the kernel means reboot)'
            cand --root 'Host root to inspect: every file is read under it (a fixture tree, a mounted image)'
            cand --nvml-lib 'NVML library to load [default: the system''s libnvidia-ml.so.1 when --root is /; not checked otherwise]'
            cand --color 'When to use colour in human output; auto: on a terminal, unless NO_COLOR, CLICOLOR=0 or TERM=dumb (CLICOLOR_FORCE=1 forces it)'
            cand --dry-run 'Print the plan (steps, holders, blockers) and change nothing'
            cand --json 'Print JSON (the plan with --dry-run, the run''s report otherwise) instead of text'
            cand -y 'Run without questions (processes get SIGTERM only, unless --kill); needed without a terminal'
            cand --yes 'Run without questions (processes get SIGTERM only, unless --kill); needed without a terminal'
            cand --kill 'SIGKILL processes still running after the grace period'
            cand --resume 'Undo an interrupted reload from its journal (/run/nvfix/journal.json): load the modules, start the services'
            cand --allow-display-stop 'Allow stopping the display manager (the local console and graphical sessions go dark)'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'nvfix;verify'= {
            cand --root 'Host root to inspect: every file is read under it (a fixture tree, a mounted image)'
            cand --nvml-lib 'NVML library to load [default: the system''s libnvidia-ml.so.1 when --root is /; not checked otherwise]'
            cand --color 'When to use colour in human output; auto: on a terminal, unless NO_COLOR, CLICOLOR=0 or TERM=dumb (CLICOLOR_FORCE=1 forces it)'
            cand --json 'Print the checks as JSON'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'nvfix;hold'= {
            cand --root 'Host root to inspect: every file is read under it (a fixture tree, a mounted image)'
            cand --nvml-lib 'NVML library to load [default: the system''s libnvidia-ml.so.1 when --root is /; not checked otherwise]'
            cand --color 'When to use colour in human output; auto: on a terminal, unless NO_COLOR, CLICOLOR=0 or TERM=dumb (CLICOLOR_FORCE=1 forces it)'
            cand --undo 'Release exactly what nvfix held (packages held before nvfix ran stay held) and remove its drop-in'
            cand --status 'Show what is held and whether an automatic upgrade could still replace the driver (exit 1 when it could)'
            cand --dry-run 'Show the commands and files without running or writing anything'
            cand --json 'Print one JSON object instead of text'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'nvfix;metrics'= {
            cand --textfile 'Where to write the textfile (atomically); `-` prints to stdout [default: under --root, /var/lib/prometheus/node-exporter/nvfix.prom]'
            cand --root 'Host root to inspect: every file is read under it (a fixture tree, a mounted image)'
            cand --nvml-lib 'NVML library to load [default: the system''s libnvidia-ml.so.1 when --root is /; not checked otherwise]'
            cand --color 'When to use colour in human output; auto: on a terminal, unless NO_COLOR, CLICOLOR=0 or TERM=dumb (CLICOLOR_FORCE=1 forces it)'
            cand --no-holders 'Do not scan processes for GPU holders (nvfix_gpu_holders is then left out)'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'nvfix;check'= {
            cand --format 'Output format'
            cand --output 'Write the output to this file (atomically) instead of stdout'
            cand --root 'Host root to inspect: every file is read under it (a fixture tree, a mounted image)'
            cand --nvml-lib 'NVML library to load [default: the system''s libnvidia-ml.so.1 when --root is /; not checked otherwise]'
            cand --color 'When to use colour in human output; auto: on a terminal, unless NO_COLOR, CLICOLOR=0 or TERM=dumb (CLICOLOR_FORCE=1 forces it)'
            cand --no-holders 'Do not scan processes for GPU holders (faster; the holder count is left out)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'nvfix;auto'= {
            cand --playbook 'The playbook to act within: a name (/etc/nvfix/playbooks/NAME.yaml, then /usr/share/nvfix/playbooks/NAME.yaml) or a path (with a `/` or ending in .yaml) [default: the one /etc/nvfix/nvfix.yaml selects, else the built-in default: reload only when no user process holds the GPU, never reboot]'
            cand --module-timeout 'Seconds each modprobe may take; past it the command is stopped (a module stuck in the kernel means reboot)'
            cand --root 'Host root to inspect: every file is read under it (a fixture tree, a mounted image)'
            cand --nvml-lib 'NVML library to load [default: the system''s libnvidia-ml.so.1 when --root is /; not checked otherwise]'
            cand --color 'When to use colour in human output; auto: on a terminal, unless NO_COLOR, CLICOLOR=0 or TERM=dumb (CLICOLOR_FORCE=1 forces it)'
            cand --allow-reboot 'Allow a reboot for this run even if the playbook does not (--yes never does)'
            cand --dry-run 'Decide and check every guard, but change nothing'
            cand --json 'Print the report as JSON (schema nvfix.auto/v1)'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'nvfix;sentinel'= {
            cand --playbook 'The playbook whose reload policy decides whether a reload could fix the host instead: a name or a path, as for `nvfix auto` [default: the one /etc/nvfix/nvfix.yaml selects, else the built-in default]'
            cand --root 'Host root to inspect: every file is read under it (a fixture tree, a mounted image)'
            cand --nvml-lib 'NVML library to load [default: the system''s libnvidia-ml.so.1 when --root is /; not checked otherwise]'
            cand --color 'When to use colour in human output; auto: on a terminal, unless NO_COLOR, CLICOLOR=0 or TERM=dumb (CLICOLOR_FORCE=1 forces it)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'nvfix;reboot'= {
            cand --delay 'Minutes until the reboot (wall message to logged-in users; 0 reboots now; at most 1440) [default: the playbook''s, 5]'
            cand --playbook 'Take the delay, the maintenance window, the reboot limit and the handoff commands from this playbook: a name or a path, as for `nvfix auto` [default: the one /etc/nvfix/nvfix.yaml selects, else the built-in default]'
            cand --root 'Host root to inspect: every file is read under it (a fixture tree, a mounted image)'
            cand --nvml-lib 'NVML library to load [default: the system''s libnvidia-ml.so.1 when --root is /; not checked otherwise]'
            cand --color 'When to use colour in human output; auto: on a terminal, unless NO_COLOR, CLICOLOR=0 or TERM=dumb (CLICOLOR_FORCE=1 forces it)'
            cand -y 'Do not ask for confirmation (needed without a terminal)'
            cand --yes 'Do not ask for confirmation (needed without a terminal)'
            cand --dry-run 'Check and report every guard, schedule nothing'
            cand --json 'Print the report as JSON (schema nvfix.reboot/v1)'
            cand --now 'Reboot now, through systemctl reboot --check-inhibitors=yes'
            cand --cancel 'Cancel the reboot nvfix scheduled (shutdown -c), or take back one it handed off (the playbook''s reboot.cancel_handoff)'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'nvfix;playbook'= {
            cand --root 'Host root to inspect: every file is read under it (a fixture tree, a mounted image)'
            cand --nvml-lib 'NVML library to load [default: the system''s libnvidia-ml.so.1 when --root is /; not checked otherwise]'
            cand --color 'When to use colour in human output; auto: on a terminal, unless NO_COLOR, CLICOLOR=0 or TERM=dumb (CLICOLOR_FORCE=1 forces it)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand check 'Validate a playbook: exit 0, or FILE:LINE:COLUMN errors (65 not YAML, 78 not a valid playbook, 77 unsafe owner)'
            cand list 'List the playbook names (local in /etc/nvfix/playbooks, shipped in /usr/share/nvfix/playbooks, built-in) and which one /etc/nvfix/nvfix.yaml selects'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'nvfix;playbook;check'= {
            cand --root 'Host root to inspect: every file is read under it (a fixture tree, a mounted image)'
            cand --nvml-lib 'NVML library to load [default: the system''s libnvidia-ml.so.1 when --root is /; not checked otherwise]'
            cand --color 'When to use colour in human output; auto: on a terminal, unless NO_COLOR, CLICOLOR=0 or TERM=dumb (CLICOLOR_FORCE=1 forces it)'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'nvfix;playbook;list'= {
            cand --root 'Host root to inspect: every file is read under it (a fixture tree, a mounted image)'
            cand --nvml-lib 'NVML library to load [default: the system''s libnvidia-ml.so.1 when --root is /; not checked otherwise]'
            cand --color 'When to use colour in human output; auto: on a terminal, unless NO_COLOR, CLICOLOR=0 or TERM=dumb (CLICOLOR_FORCE=1 forces it)'
            cand --json 'Print one JSON object (schema nvfix.playbooks/v1) instead of the table'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'nvfix;playbook;help'= {
            cand check 'Validate a playbook: exit 0, or FILE:LINE:COLUMN errors (65 not YAML, 78 not a valid playbook, 77 unsafe owner)'
            cand list 'List the playbook names (local in /etc/nvfix/playbooks, shipped in /usr/share/nvfix/playbooks, built-in) and which one /etc/nvfix/nvfix.yaml selects'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'nvfix;playbook;help;check'= {
        }
        &'nvfix;playbook;help;list'= {
        }
        &'nvfix;playbook;help;help'= {
        }
        &'nvfix;upgrade'= {
            cand --to 'The version to install: the driver version (580.95.05) or the exact package version'
            cand --textfile 'With --check: write node_exporter metrics (nvfix_driver_upgrade_*) to this file, atomically (`-`: stdout)'
            cand --playbook 'Let this playbook decide how the new version is loaded, as nvfix auto does (reload, quarantine until idle, or a reboot): a name or a path [default: reload now, as nvfix reload]'
            cand --grace 'Seconds a process gets to exit after SIGTERM (at most 3600)'
            cand --module-timeout 'Seconds each modprobe may take; past it the command is stopped (a module stuck in the kernel means reboot)'
            cand --root 'Host root to inspect: every file is read under it (a fixture tree, a mounted image)'
            cand --nvml-lib 'NVML library to load [default: the system''s libnvidia-ml.so.1 when --root is /; not checked otherwise]'
            cand --color 'When to use colour in human output; auto: on a terminal, unless NO_COLOR, CLICOLOR=0 or TERM=dumb (CLICOLOR_FORCE=1 forces it)'
            cand --latest 'The newest version of the installed branch the repositories offer (the default)'
            cand --dry-run 'Print the plan (packages and versions, kernels, what the reload stops, the way back) and change nothing'
            cand --check 'Say whether a newer driver of the installed branch is offered, and whether applying it is a reload or a reboot here (read-only)'
            cand --resume 'Finish an interrupted upgrade from its journal (/var/lib/nvfix/upgrade.json)'
            cand -y 'Run without questions (processes get SIGTERM only, unless --kill); needed without a terminal'
            cand --yes 'Run without questions (processes get SIGTERM only, unless --kill); needed without a terminal'
            cand --json 'Print one JSON object (schema nvfix.upgrade/v1; nvfix.upgrade-check/v1 with --check)'
            cand --kill 'SIGKILL processes still running after the grace period'
            cand --allow-display-stop 'Allow stopping the display manager (the local console and graphical sessions go dark)'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'nvfix;help'= {
            cand diagnose 'Explain the driver''s state: what is loaded, what is installed, what changed, who holds the GPU, what to do'
            cand ps 'List the processes that hold the GPU (open /dev/nvidia* or DRM nodes, mapped driver libraries)'
            cand reload 'Swap the NVIDIA kernel modules without a reboot: stop the GPU''s holders, unload, load, verify (journaled)'
            cand verify 'Check the driver after a reload: NVML initialises, NVML == module == library version, no new API mismatch'
            cand hold 'Pin the installed driver packages (apt-mark hold + unattended-upgrades blacklist, or dnf versionlock)'
            cand metrics 'Write node_exporter textfile metrics: the verdict, the action, the versions, the GPU holders'
            cand check 'Read-only check in a monitoring engine''s format: Nagios, node-problem-detector, Prometheus textfile, JSON'
            cand auto 'Runbook mode: diagnose, then reload or reboot within a playbook''s policy; exit status says what happened'
            cand sentinel 'kured''s reboot sentinel: exit 0 only when a reboot is needed, would fix the driver, and no reload can'
            cand reboot 'Reboot safely into a kernel whose NVIDIA module matches the library, after checking every guard'
            cand playbook 'Work with playbooks (the policy `nvfix auto` acts within)'
            cand upgrade 'Upgrade a held driver as one planned step: plan, trial build, install, reload, verify, hold again (journaled)'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'nvfix;help;diagnose'= {
        }
        &'nvfix;help;ps'= {
        }
        &'nvfix;help;reload'= {
        }
        &'nvfix;help;verify'= {
        }
        &'nvfix;help;hold'= {
        }
        &'nvfix;help;metrics'= {
        }
        &'nvfix;help;check'= {
        }
        &'nvfix;help;auto'= {
        }
        &'nvfix;help;sentinel'= {
        }
        &'nvfix;help;reboot'= {
        }
        &'nvfix;help;playbook'= {
            cand check 'Validate a playbook: exit 0, or FILE:LINE:COLUMN errors (65 not YAML, 78 not a valid playbook, 77 unsafe owner)'
            cand list 'List the playbook names (local in /etc/nvfix/playbooks, shipped in /usr/share/nvfix/playbooks, built-in) and which one /etc/nvfix/nvfix.yaml selects'
        }
        &'nvfix;help;playbook;check'= {
        }
        &'nvfix;help;playbook;list'= {
        }
        &'nvfix;help;upgrade'= {
        }
        &'nvfix;help;help'= {
        }
    ]
    $completions[$command]
}
