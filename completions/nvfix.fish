# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_nvfix_global_optspecs
    string join \n root= nvml-lib= color= h/help V/version
end

function __fish_nvfix_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_nvfix_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_nvfix_using_subcommand
    set -l cmd (__fish_nvfix_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c nvfix -n "__fish_nvfix_needs_command" -l root -d 'Host root to inspect: every file is read under it (a fixture tree, a mounted image)' -r -f -a "(__fish_complete_directories)"
complete -c nvfix -n "__fish_nvfix_needs_command" -l nvml-lib -d 'NVML library to load [default: the system\'s libnvidia-ml.so.1 when --root is /; not checked otherwise]' -r -F
complete -c nvfix -n "__fish_nvfix_needs_command" -l color -d 'When to use colour in human output; auto: on a terminal, unless NO_COLOR, CLICOLOR=0 or TERM=dumb (CLICOLOR_FORCE=1 forces it)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c nvfix -n "__fish_nvfix_needs_command" -s h -l help -d 'Print help'
complete -c nvfix -n "__fish_nvfix_needs_command" -s V -l version -d 'Print version'
complete -c nvfix -n "__fish_nvfix_needs_command" -f -a "diagnose" -d 'Explain the driver\'s state: what is loaded, what is installed, what changed, who holds the GPU, what to do'
complete -c nvfix -n "__fish_nvfix_needs_command" -f -a "ps" -d 'List the processes that hold the GPU (open /dev/nvidia* or DRM nodes, mapped driver libraries)'
complete -c nvfix -n "__fish_nvfix_needs_command" -f -a "reload" -d 'Swap the NVIDIA kernel modules without a reboot: stop the GPU\'s holders, unload, load, verify (journaled)'
complete -c nvfix -n "__fish_nvfix_needs_command" -f -a "verify" -d 'Check the driver after a reload: NVML initialises, NVML == module == library version, no new API mismatch'
complete -c nvfix -n "__fish_nvfix_needs_command" -f -a "hold" -d 'Pin the installed driver packages (apt-mark hold + unattended-upgrades blacklist, or dnf versionlock)'
complete -c nvfix -n "__fish_nvfix_needs_command" -f -a "metrics" -d 'Write node_exporter textfile metrics: the verdict, the action, the versions, the GPU holders'
complete -c nvfix -n "__fish_nvfix_needs_command" -f -a "check" -d 'Read-only check in a monitoring engine\'s format: Nagios, node-problem-detector, Prometheus textfile, JSON'
complete -c nvfix -n "__fish_nvfix_needs_command" -f -a "auto" -d 'Runbook mode: diagnose, then reload or reboot within a playbook\'s policy; exit status says what happened'
complete -c nvfix -n "__fish_nvfix_needs_command" -f -a "sentinel" -d 'kured\'s reboot sentinel: exit 0 only when a reboot is needed, would fix the driver, and no reload can'
complete -c nvfix -n "__fish_nvfix_needs_command" -f -a "reboot" -d 'Reboot safely into a kernel whose NVIDIA module matches the library, after checking every guard'
complete -c nvfix -n "__fish_nvfix_needs_command" -f -a "playbook" -d 'Work with playbooks (the policy `nvfix auto` acts within)'
complete -c nvfix -n "__fish_nvfix_needs_command" -f -a "upgrade" -d 'Upgrade a held driver as one planned step: plan, trial build, install, reload, verify, hold again (journaled)'
complete -c nvfix -n "__fish_nvfix_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c nvfix -n "__fish_nvfix_using_subcommand diagnose" -l root -d 'Host root to inspect: every file is read under it (a fixture tree, a mounted image)' -r -f -a "(__fish_complete_directories)"
complete -c nvfix -n "__fish_nvfix_using_subcommand diagnose" -l nvml-lib -d 'NVML library to load [default: the system\'s libnvidia-ml.so.1 when --root is /; not checked otherwise]' -r -F
complete -c nvfix -n "__fish_nvfix_using_subcommand diagnose" -l color -d 'When to use colour in human output; auto: on a terminal, unless NO_COLOR, CLICOLOR=0 or TERM=dumb (CLICOLOR_FORCE=1 forces it)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c nvfix -n "__fish_nvfix_using_subcommand diagnose" -l json -d 'Print one JSON object (the documented, stable contract) instead of the report'
complete -c nvfix -n "__fish_nvfix_using_subcommand diagnose" -l no-holders -d 'Do not scan processes for GPU holders'
complete -c nvfix -n "__fish_nvfix_using_subcommand diagnose" -s h -l help -d 'Print help'
complete -c nvfix -n "__fish_nvfix_using_subcommand ps" -l root -d 'Host root to inspect: every file is read under it (a fixture tree, a mounted image)' -r -f -a "(__fish_complete_directories)"
complete -c nvfix -n "__fish_nvfix_using_subcommand ps" -l nvml-lib -d 'NVML library to load [default: the system\'s libnvidia-ml.so.1 when --root is /; not checked otherwise]' -r -F
complete -c nvfix -n "__fish_nvfix_using_subcommand ps" -l color -d 'When to use colour in human output; auto: on a terminal, unless NO_COLOR, CLICOLOR=0 or TERM=dumb (CLICOLOR_FORCE=1 forces it)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c nvfix -n "__fish_nvfix_using_subcommand ps" -l json -d 'Print the holders as a JSON array'
complete -c nvfix -n "__fish_nvfix_using_subcommand ps" -l all -d 'Also list processes that only map the driver libraries (libcuda, libnvidia-ml) without a device open — e.g. a job whose CUDA init failed during the mismatch and stays broken until restarted. Slower: reads every process\'s memory maps'
complete -c nvfix -n "__fish_nvfix_using_subcommand ps" -l wide -d 'Print every column in full; by default the table fits the terminal (80 columns when not a terminal), long cells cut with `…`'
complete -c nvfix -n "__fish_nvfix_using_subcommand ps" -s h -l help -d 'Print help'
complete -c nvfix -n "__fish_nvfix_using_subcommand reload" -l grace -d 'Seconds a process gets to exit after SIGTERM (at most 3600)' -r -f
complete -c nvfix -n "__fish_nvfix_using_subcommand reload" -l module-timeout -d 'Seconds each modprobe may take; past it the command is stopped (a module stuck in the kernel means reboot)' -r -f
complete -c nvfix -n "__fish_nvfix_using_subcommand reload" -l root -d 'Host root to inspect: every file is read under it (a fixture tree, a mounted image)' -r -f -a "(__fish_complete_directories)"
complete -c nvfix -n "__fish_nvfix_using_subcommand reload" -l nvml-lib -d 'NVML library to load [default: the system\'s libnvidia-ml.so.1 when --root is /; not checked otherwise]' -r -F
complete -c nvfix -n "__fish_nvfix_using_subcommand reload" -l color -d 'When to use colour in human output; auto: on a terminal, unless NO_COLOR, CLICOLOR=0 or TERM=dumb (CLICOLOR_FORCE=1 forces it)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c nvfix -n "__fish_nvfix_using_subcommand reload" -l dry-run -d 'Print the plan (steps, holders, blockers) and change nothing'
complete -c nvfix -n "__fish_nvfix_using_subcommand reload" -l json -d 'Print JSON (the plan with --dry-run, the run\'s report otherwise) instead of text'
complete -c nvfix -n "__fish_nvfix_using_subcommand reload" -s y -l yes -d 'Run without questions (processes get SIGTERM only, unless --kill); needed without a terminal'
complete -c nvfix -n "__fish_nvfix_using_subcommand reload" -l kill -d 'SIGKILL processes still running after the grace period'
complete -c nvfix -n "__fish_nvfix_using_subcommand reload" -l resume -d 'Undo an interrupted reload from its journal (/run/nvfix/journal.json): load the modules, start the services'
complete -c nvfix -n "__fish_nvfix_using_subcommand reload" -l allow-display-stop -d 'Allow stopping the display manager (the local console and graphical sessions go dark)'
complete -c nvfix -n "__fish_nvfix_using_subcommand reload" -s h -l help -d 'Print help'
complete -c nvfix -n "__fish_nvfix_using_subcommand verify" -l root -d 'Host root to inspect: every file is read under it (a fixture tree, a mounted image)' -r -f -a "(__fish_complete_directories)"
complete -c nvfix -n "__fish_nvfix_using_subcommand verify" -l nvml-lib -d 'NVML library to load [default: the system\'s libnvidia-ml.so.1 when --root is /; not checked otherwise]' -r -F
complete -c nvfix -n "__fish_nvfix_using_subcommand verify" -l color -d 'When to use colour in human output; auto: on a terminal, unless NO_COLOR, CLICOLOR=0 or TERM=dumb (CLICOLOR_FORCE=1 forces it)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c nvfix -n "__fish_nvfix_using_subcommand verify" -l json -d 'Print the checks as JSON'
complete -c nvfix -n "__fish_nvfix_using_subcommand verify" -s h -l help -d 'Print help'
complete -c nvfix -n "__fish_nvfix_using_subcommand hold" -l root -d 'Host root to inspect: every file is read under it (a fixture tree, a mounted image)' -r -f -a "(__fish_complete_directories)"
complete -c nvfix -n "__fish_nvfix_using_subcommand hold" -l nvml-lib -d 'NVML library to load [default: the system\'s libnvidia-ml.so.1 when --root is /; not checked otherwise]' -r -F
complete -c nvfix -n "__fish_nvfix_using_subcommand hold" -l color -d 'When to use colour in human output; auto: on a terminal, unless NO_COLOR, CLICOLOR=0 or TERM=dumb (CLICOLOR_FORCE=1 forces it)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c nvfix -n "__fish_nvfix_using_subcommand hold" -l undo -d 'Release exactly what nvfix held (packages held before nvfix ran stay held) and remove its drop-in'
complete -c nvfix -n "__fish_nvfix_using_subcommand hold" -l status -d 'Show what is held and whether an automatic upgrade could still replace the driver (exit 1 when it could)'
complete -c nvfix -n "__fish_nvfix_using_subcommand hold" -l dry-run -d 'Show the commands and files without running or writing anything'
complete -c nvfix -n "__fish_nvfix_using_subcommand hold" -l json -d 'Print one JSON object instead of text'
complete -c nvfix -n "__fish_nvfix_using_subcommand hold" -s h -l help -d 'Print help'
complete -c nvfix -n "__fish_nvfix_using_subcommand metrics" -l textfile -d 'Where to write the textfile (atomically); `-` prints to stdout [default: under --root, /var/lib/prometheus/node-exporter/nvfix.prom]' -r -F
complete -c nvfix -n "__fish_nvfix_using_subcommand metrics" -l root -d 'Host root to inspect: every file is read under it (a fixture tree, a mounted image)' -r -f -a "(__fish_complete_directories)"
complete -c nvfix -n "__fish_nvfix_using_subcommand metrics" -l nvml-lib -d 'NVML library to load [default: the system\'s libnvidia-ml.so.1 when --root is /; not checked otherwise]' -r -F
complete -c nvfix -n "__fish_nvfix_using_subcommand metrics" -l color -d 'When to use colour in human output; auto: on a terminal, unless NO_COLOR, CLICOLOR=0 or TERM=dumb (CLICOLOR_FORCE=1 forces it)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c nvfix -n "__fish_nvfix_using_subcommand metrics" -l no-holders -d 'Do not scan processes for GPU holders (nvfix_gpu_holders is then left out)'
complete -c nvfix -n "__fish_nvfix_using_subcommand metrics" -s h -l help -d 'Print help'
complete -c nvfix -n "__fish_nvfix_using_subcommand check" -l format -d 'Output format' -r -f -a "nagios\t'Nagios/Icinga plugin: status line with perfdata, exit 0/1/2/3'
npd\t'node-problem-detector custom plugin: one message line, exit 0/1/2'
prometheus\t'node_exporter textfile (the metrics of `nvfix metrics`)'
json\t'The nvfix.check/v1 JSON object'"
complete -c nvfix -n "__fish_nvfix_using_subcommand check" -l output -d 'Write the output to this file (atomically) instead of stdout' -r -F
complete -c nvfix -n "__fish_nvfix_using_subcommand check" -l root -d 'Host root to inspect: every file is read under it (a fixture tree, a mounted image)' -r -f -a "(__fish_complete_directories)"
complete -c nvfix -n "__fish_nvfix_using_subcommand check" -l nvml-lib -d 'NVML library to load [default: the system\'s libnvidia-ml.so.1 when --root is /; not checked otherwise]' -r -F
complete -c nvfix -n "__fish_nvfix_using_subcommand check" -l color -d 'When to use colour in human output; auto: on a terminal, unless NO_COLOR, CLICOLOR=0 or TERM=dumb (CLICOLOR_FORCE=1 forces it)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c nvfix -n "__fish_nvfix_using_subcommand check" -l no-holders -d 'Do not scan processes for GPU holders (faster; the holder count is left out)'
complete -c nvfix -n "__fish_nvfix_using_subcommand check" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c nvfix -n "__fish_nvfix_using_subcommand auto" -l playbook -d 'The playbook to act within: a name (/etc/nvfix/playbooks/NAME.yaml, then /usr/share/nvfix/playbooks/NAME.yaml) or a path (with a `/` or ending in .yaml) [default: the one /etc/nvfix/nvfix.yaml selects, else the built-in default: reload only when no user process holds the GPU, never reboot]' -r -a "(__fish_nvfix_playbooks)"
complete -c nvfix -n "__fish_nvfix_using_subcommand auto" -l module-timeout -d 'Seconds each modprobe may take; past it the command is stopped (a module stuck in the kernel means reboot)' -r -f
complete -c nvfix -n "__fish_nvfix_using_subcommand auto" -l root -d 'Host root to inspect: every file is read under it (a fixture tree, a mounted image)' -r -f -a "(__fish_complete_directories)"
complete -c nvfix -n "__fish_nvfix_using_subcommand auto" -l nvml-lib -d 'NVML library to load [default: the system\'s libnvidia-ml.so.1 when --root is /; not checked otherwise]' -r -F
complete -c nvfix -n "__fish_nvfix_using_subcommand auto" -l color -d 'When to use colour in human output; auto: on a terminal, unless NO_COLOR, CLICOLOR=0 or TERM=dumb (CLICOLOR_FORCE=1 forces it)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c nvfix -n "__fish_nvfix_using_subcommand auto" -l allow-reboot -d 'Allow a reboot for this run even if the playbook does not (--yes never does)'
complete -c nvfix -n "__fish_nvfix_using_subcommand auto" -l dry-run -d 'Decide and check every guard, but change nothing'
complete -c nvfix -n "__fish_nvfix_using_subcommand auto" -l json -d 'Print the report as JSON (schema nvfix.auto/v1)'
complete -c nvfix -n "__fish_nvfix_using_subcommand auto" -s h -l help -d 'Print help'
complete -c nvfix -n "__fish_nvfix_using_subcommand sentinel" -l playbook -d 'The playbook whose reload policy decides whether a reload could fix the host instead: a name or a path, as for `nvfix auto` [default: the one /etc/nvfix/nvfix.yaml selects, else the built-in default]' -r -a "(__fish_nvfix_playbooks)"
complete -c nvfix -n "__fish_nvfix_using_subcommand sentinel" -l root -d 'Host root to inspect: every file is read under it (a fixture tree, a mounted image)' -r -f -a "(__fish_complete_directories)"
complete -c nvfix -n "__fish_nvfix_using_subcommand sentinel" -l nvml-lib -d 'NVML library to load [default: the system\'s libnvidia-ml.so.1 when --root is /; not checked otherwise]' -r -F
complete -c nvfix -n "__fish_nvfix_using_subcommand sentinel" -l color -d 'When to use colour in human output; auto: on a terminal, unless NO_COLOR, CLICOLOR=0 or TERM=dumb (CLICOLOR_FORCE=1 forces it)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c nvfix -n "__fish_nvfix_using_subcommand sentinel" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c nvfix -n "__fish_nvfix_using_subcommand reboot" -l delay -d 'Minutes until the reboot (wall message to logged-in users; 0 reboots now; at most 1440) [default: the playbook\'s, 5]' -r -f
complete -c nvfix -n "__fish_nvfix_using_subcommand reboot" -l playbook -d 'Take the delay, the maintenance window, the reboot limit and the handoff commands from this playbook: a name or a path, as for `nvfix auto` [default: the one /etc/nvfix/nvfix.yaml selects, else the built-in default]' -r -a "(__fish_nvfix_playbooks)"
complete -c nvfix -n "__fish_nvfix_using_subcommand reboot" -l root -d 'Host root to inspect: every file is read under it (a fixture tree, a mounted image)' -r -f -a "(__fish_complete_directories)"
complete -c nvfix -n "__fish_nvfix_using_subcommand reboot" -l nvml-lib -d 'NVML library to load [default: the system\'s libnvidia-ml.so.1 when --root is /; not checked otherwise]' -r -F
complete -c nvfix -n "__fish_nvfix_using_subcommand reboot" -l color -d 'When to use colour in human output; auto: on a terminal, unless NO_COLOR, CLICOLOR=0 or TERM=dumb (CLICOLOR_FORCE=1 forces it)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c nvfix -n "__fish_nvfix_using_subcommand reboot" -s y -l yes -d 'Do not ask for confirmation (needed without a terminal)'
complete -c nvfix -n "__fish_nvfix_using_subcommand reboot" -l dry-run -d 'Check and report every guard, schedule nothing'
complete -c nvfix -n "__fish_nvfix_using_subcommand reboot" -l json -d 'Print the report as JSON (schema nvfix.reboot/v1)'
complete -c nvfix -n "__fish_nvfix_using_subcommand reboot" -l now -d 'Reboot now, through systemctl reboot --check-inhibitors=yes'
complete -c nvfix -n "__fish_nvfix_using_subcommand reboot" -l cancel -d 'Cancel the reboot nvfix scheduled (shutdown -c), or take back one it handed off (the playbook\'s reboot.cancel_handoff)'
complete -c nvfix -n "__fish_nvfix_using_subcommand reboot" -s h -l help -d 'Print help'
complete -c nvfix -n "__fish_nvfix_using_subcommand playbook; and not __fish_seen_subcommand_from check list help" -l root -d 'Host root to inspect: every file is read under it (a fixture tree, a mounted image)' -r -f -a "(__fish_complete_directories)"
complete -c nvfix -n "__fish_nvfix_using_subcommand playbook; and not __fish_seen_subcommand_from check list help" -l nvml-lib -d 'NVML library to load [default: the system\'s libnvidia-ml.so.1 when --root is /; not checked otherwise]' -r -F
complete -c nvfix -n "__fish_nvfix_using_subcommand playbook; and not __fish_seen_subcommand_from check list help" -l color -d 'When to use colour in human output; auto: on a terminal, unless NO_COLOR, CLICOLOR=0 or TERM=dumb (CLICOLOR_FORCE=1 forces it)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c nvfix -n "__fish_nvfix_using_subcommand playbook; and not __fish_seen_subcommand_from check list help" -s h -l help -d 'Print help'
complete -c nvfix -n "__fish_nvfix_using_subcommand playbook; and not __fish_seen_subcommand_from check list help" -f -a "check" -d 'Validate a playbook: exit 0, or FILE:LINE:COLUMN errors (65 not YAML, 78 not a valid playbook, 77 unsafe owner)'
complete -c nvfix -n "__fish_nvfix_using_subcommand playbook; and not __fish_seen_subcommand_from check list help" -f -a "list" -d 'List the playbook names (local in /etc/nvfix/playbooks, shipped in /usr/share/nvfix/playbooks, built-in) and which one /etc/nvfix/nvfix.yaml selects'
complete -c nvfix -n "__fish_nvfix_using_subcommand playbook; and not __fish_seen_subcommand_from check list help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c nvfix -n "__fish_nvfix_using_subcommand playbook; and __fish_seen_subcommand_from check" -l root -d 'Host root to inspect: every file is read under it (a fixture tree, a mounted image)' -r -f -a "(__fish_complete_directories)"
complete -c nvfix -n "__fish_nvfix_using_subcommand playbook; and __fish_seen_subcommand_from check" -l nvml-lib -d 'NVML library to load [default: the system\'s libnvidia-ml.so.1 when --root is /; not checked otherwise]' -r -F
complete -c nvfix -n "__fish_nvfix_using_subcommand playbook; and __fish_seen_subcommand_from check" -l color -d 'When to use colour in human output; auto: on a terminal, unless NO_COLOR, CLICOLOR=0 or TERM=dumb (CLICOLOR_FORCE=1 forces it)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c nvfix -n "__fish_nvfix_using_subcommand playbook; and __fish_seen_subcommand_from check" -s h -l help -d 'Print help'
complete -c nvfix -n "__fish_nvfix_using_subcommand playbook; and __fish_seen_subcommand_from list" -l root -d 'Host root to inspect: every file is read under it (a fixture tree, a mounted image)' -r -f -a "(__fish_complete_directories)"
complete -c nvfix -n "__fish_nvfix_using_subcommand playbook; and __fish_seen_subcommand_from list" -l nvml-lib -d 'NVML library to load [default: the system\'s libnvidia-ml.so.1 when --root is /; not checked otherwise]' -r -F
complete -c nvfix -n "__fish_nvfix_using_subcommand playbook; and __fish_seen_subcommand_from list" -l color -d 'When to use colour in human output; auto: on a terminal, unless NO_COLOR, CLICOLOR=0 or TERM=dumb (CLICOLOR_FORCE=1 forces it)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c nvfix -n "__fish_nvfix_using_subcommand playbook; and __fish_seen_subcommand_from list" -l json -d 'Print one JSON object (schema nvfix.playbooks/v1) instead of the table'
complete -c nvfix -n "__fish_nvfix_using_subcommand playbook; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help'
complete -c nvfix -n "__fish_nvfix_using_subcommand playbook; and __fish_seen_subcommand_from help" -f -a "check" -d 'Validate a playbook: exit 0, or FILE:LINE:COLUMN errors (65 not YAML, 78 not a valid playbook, 77 unsafe owner)'
complete -c nvfix -n "__fish_nvfix_using_subcommand playbook; and __fish_seen_subcommand_from help" -f -a "list" -d 'List the playbook names (local in /etc/nvfix/playbooks, shipped in /usr/share/nvfix/playbooks, built-in) and which one /etc/nvfix/nvfix.yaml selects'
complete -c nvfix -n "__fish_nvfix_using_subcommand playbook; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c nvfix -n "__fish_nvfix_using_subcommand upgrade" -l to -d 'The version to install: the driver version (580.95.05) or the exact package version' -r -f
complete -c nvfix -n "__fish_nvfix_using_subcommand upgrade" -l textfile -d 'With --check: write node_exporter metrics (nvfix_driver_upgrade_*) to this file, atomically (`-`: stdout)' -r -F
complete -c nvfix -n "__fish_nvfix_using_subcommand upgrade" -l playbook -d 'Let this playbook decide how the new version is loaded, as nvfix auto does (reload, quarantine until idle, or a reboot): a name or a path [default: reload now, as nvfix reload]' -r -a "(__fish_nvfix_playbooks)"
complete -c nvfix -n "__fish_nvfix_using_subcommand upgrade" -l grace -d 'Seconds a process gets to exit after SIGTERM (at most 3600)' -r -f
complete -c nvfix -n "__fish_nvfix_using_subcommand upgrade" -l module-timeout -d 'Seconds each modprobe may take; past it the command is stopped (a module stuck in the kernel means reboot)' -r -f
complete -c nvfix -n "__fish_nvfix_using_subcommand upgrade" -l root -d 'Host root to inspect: every file is read under it (a fixture tree, a mounted image)' -r -f -a "(__fish_complete_directories)"
complete -c nvfix -n "__fish_nvfix_using_subcommand upgrade" -l nvml-lib -d 'NVML library to load [default: the system\'s libnvidia-ml.so.1 when --root is /; not checked otherwise]' -r -F
complete -c nvfix -n "__fish_nvfix_using_subcommand upgrade" -l color -d 'When to use colour in human output; auto: on a terminal, unless NO_COLOR, CLICOLOR=0 or TERM=dumb (CLICOLOR_FORCE=1 forces it)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c nvfix -n "__fish_nvfix_using_subcommand upgrade" -l latest -d 'The newest version of the installed branch the repositories offer (the default)'
complete -c nvfix -n "__fish_nvfix_using_subcommand upgrade" -l dry-run -d 'Print the plan (packages and versions, kernels, what the reload stops, the way back) and change nothing'
complete -c nvfix -n "__fish_nvfix_using_subcommand upgrade" -l check -d 'Say whether a newer driver of the installed branch is offered, and whether applying it is a reload or a reboot here (read-only)'
complete -c nvfix -n "__fish_nvfix_using_subcommand upgrade" -l resume -d 'Finish an interrupted upgrade from its journal (/var/lib/nvfix/upgrade.json)'
complete -c nvfix -n "__fish_nvfix_using_subcommand upgrade" -s y -l yes -d 'Run without questions (processes get SIGTERM only, unless --kill); needed without a terminal'
complete -c nvfix -n "__fish_nvfix_using_subcommand upgrade" -l json -d 'Print one JSON object (schema nvfix.upgrade/v1; nvfix.upgrade-check/v1 with --check)'
complete -c nvfix -n "__fish_nvfix_using_subcommand upgrade" -l kill -d 'SIGKILL processes still running after the grace period'
complete -c nvfix -n "__fish_nvfix_using_subcommand upgrade" -l allow-display-stop -d 'Allow stopping the display manager (the local console and graphical sessions go dark)'
complete -c nvfix -n "__fish_nvfix_using_subcommand upgrade" -s h -l help -d 'Print help'
complete -c nvfix -n "__fish_nvfix_using_subcommand help; and not __fish_seen_subcommand_from diagnose ps reload verify hold metrics check auto sentinel reboot playbook upgrade help" -f -a "diagnose" -d 'Explain the driver\'s state: what is loaded, what is installed, what changed, who holds the GPU, what to do'
complete -c nvfix -n "__fish_nvfix_using_subcommand help; and not __fish_seen_subcommand_from diagnose ps reload verify hold metrics check auto sentinel reboot playbook upgrade help" -f -a "ps" -d 'List the processes that hold the GPU (open /dev/nvidia* or DRM nodes, mapped driver libraries)'
complete -c nvfix -n "__fish_nvfix_using_subcommand help; and not __fish_seen_subcommand_from diagnose ps reload verify hold metrics check auto sentinel reboot playbook upgrade help" -f -a "reload" -d 'Swap the NVIDIA kernel modules without a reboot: stop the GPU\'s holders, unload, load, verify (journaled)'
complete -c nvfix -n "__fish_nvfix_using_subcommand help; and not __fish_seen_subcommand_from diagnose ps reload verify hold metrics check auto sentinel reboot playbook upgrade help" -f -a "verify" -d 'Check the driver after a reload: NVML initialises, NVML == module == library version, no new API mismatch'
complete -c nvfix -n "__fish_nvfix_using_subcommand help; and not __fish_seen_subcommand_from diagnose ps reload verify hold metrics check auto sentinel reboot playbook upgrade help" -f -a "hold" -d 'Pin the installed driver packages (apt-mark hold + unattended-upgrades blacklist, or dnf versionlock)'
complete -c nvfix -n "__fish_nvfix_using_subcommand help; and not __fish_seen_subcommand_from diagnose ps reload verify hold metrics check auto sentinel reboot playbook upgrade help" -f -a "metrics" -d 'Write node_exporter textfile metrics: the verdict, the action, the versions, the GPU holders'
complete -c nvfix -n "__fish_nvfix_using_subcommand help; and not __fish_seen_subcommand_from diagnose ps reload verify hold metrics check auto sentinel reboot playbook upgrade help" -f -a "check" -d 'Read-only check in a monitoring engine\'s format: Nagios, node-problem-detector, Prometheus textfile, JSON'
complete -c nvfix -n "__fish_nvfix_using_subcommand help; and not __fish_seen_subcommand_from diagnose ps reload verify hold metrics check auto sentinel reboot playbook upgrade help" -f -a "auto" -d 'Runbook mode: diagnose, then reload or reboot within a playbook\'s policy; exit status says what happened'
complete -c nvfix -n "__fish_nvfix_using_subcommand help; and not __fish_seen_subcommand_from diagnose ps reload verify hold metrics check auto sentinel reboot playbook upgrade help" -f -a "sentinel" -d 'kured\'s reboot sentinel: exit 0 only when a reboot is needed, would fix the driver, and no reload can'
complete -c nvfix -n "__fish_nvfix_using_subcommand help; and not __fish_seen_subcommand_from diagnose ps reload verify hold metrics check auto sentinel reboot playbook upgrade help" -f -a "reboot" -d 'Reboot safely into a kernel whose NVIDIA module matches the library, after checking every guard'
complete -c nvfix -n "__fish_nvfix_using_subcommand help; and not __fish_seen_subcommand_from diagnose ps reload verify hold metrics check auto sentinel reboot playbook upgrade help" -f -a "playbook" -d 'Work with playbooks (the policy `nvfix auto` acts within)'
complete -c nvfix -n "__fish_nvfix_using_subcommand help; and not __fish_seen_subcommand_from diagnose ps reload verify hold metrics check auto sentinel reboot playbook upgrade help" -f -a "upgrade" -d 'Upgrade a held driver as one planned step: plan, trial build, install, reload, verify, hold again (journaled)'
complete -c nvfix -n "__fish_nvfix_using_subcommand help; and not __fish_seen_subcommand_from diagnose ps reload verify hold metrics check auto sentinel reboot playbook upgrade help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c nvfix -n "__fish_nvfix_using_subcommand help; and __fish_seen_subcommand_from playbook" -f -a "check" -d 'Validate a playbook: exit 0, or FILE:LINE:COLUMN errors (65 not YAML, 78 not a valid playbook, 77 unsafe owner)'
complete -c nvfix -n "__fish_nvfix_using_subcommand help; and __fish_seen_subcommand_from playbook" -f -a "list" -d 'List the playbook names (local in /etc/nvfix/playbooks, shipped in /usr/share/nvfix/playbooks, built-in) and which one /etc/nvfix/nvfix.yaml selects'

# Playbook names nvfix --playbook NAME resolves (local ones first).
function __fish_nvfix_playbooks
    for d in /etc/nvfix/playbooks /usr/share/nvfix/playbooks
        for f in $d/*.yaml
            basename $f .yaml
        end
    end
end
