
using namespace System.Management.Automation
using namespace System.Management.Automation.Language

Register-ArgumentCompleter -Native -CommandName 'nvfix' -ScriptBlock {
    param($wordToComplete, $commandAst, $cursorPosition)

    $commandElements = $commandAst.CommandElements
    $command = @(
        'nvfix'
        for ($i = 1; $i -lt $commandElements.Count; $i++) {
            $element = $commandElements[$i]
            if ($element -isnot [StringConstantExpressionAst] -or
                $element.StringConstantType -ne [StringConstantType]::BareWord -or
                $element.Value.StartsWith('-') -or
                $element.Value -eq $wordToComplete) {
                break
        }
        $element.Value
    }) -join ';'

    $completions = @(switch ($command) {
        'nvfix' {
            [CompletionResult]::new('--root', '--root', [CompletionResultType]::ParameterName, 'Host root to inspect: every file is read under it (a fixture tree, a mounted image)')
            [CompletionResult]::new('--nvml-lib', '--nvml-lib', [CompletionResultType]::ParameterName, 'NVML library to load [default: the system''s libnvidia-ml.so.1 when --root is /; not checked otherwise]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour in human output; auto: on a terminal, unless NO_COLOR, CLICOLOR=0 or TERM=dumb (CLICOLOR_FORCE=1 forces it)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('diagnose', 'diagnose', [CompletionResultType]::ParameterValue, 'Explain the driver''s state: what is loaded, what is installed, what changed, who holds the GPU, what to do')
            [CompletionResult]::new('ps', 'ps', [CompletionResultType]::ParameterValue, 'List the processes that hold the GPU (open /dev/nvidia* or DRM nodes, mapped driver libraries)')
            [CompletionResult]::new('reload', 'reload', [CompletionResultType]::ParameterValue, 'Swap the NVIDIA kernel modules without a reboot: stop the GPU''s holders, unload, load, verify (journaled)')
            [CompletionResult]::new('verify', 'verify', [CompletionResultType]::ParameterValue, 'Check the driver after a reload: NVML initialises, NVML == module == library version, no new API mismatch')
            [CompletionResult]::new('hold', 'hold', [CompletionResultType]::ParameterValue, 'Pin the installed driver packages (apt-mark hold + unattended-upgrades blacklist, or dnf versionlock)')
            [CompletionResult]::new('metrics', 'metrics', [CompletionResultType]::ParameterValue, 'Write node_exporter textfile metrics: the verdict, the action, the versions, the GPU holders')
            [CompletionResult]::new('check', 'check', [CompletionResultType]::ParameterValue, 'Read-only check in a monitoring engine''s format: Nagios, node-problem-detector, Prometheus textfile, JSON')
            [CompletionResult]::new('auto', 'auto', [CompletionResultType]::ParameterValue, 'Runbook mode: diagnose, then reload or reboot within a playbook''s policy; exit status says what happened')
            [CompletionResult]::new('sentinel', 'sentinel', [CompletionResultType]::ParameterValue, 'kured''s reboot sentinel: exit 0 only when a reboot is needed, would fix the driver, and no reload can')
            [CompletionResult]::new('reboot', 'reboot', [CompletionResultType]::ParameterValue, 'Reboot safely into a kernel whose NVIDIA module matches the library, after checking every guard')
            [CompletionResult]::new('playbook', 'playbook', [CompletionResultType]::ParameterValue, 'Work with playbooks (the policy `nvfix auto` acts within)')
            [CompletionResult]::new('upgrade', 'upgrade', [CompletionResultType]::ParameterValue, 'Upgrade a held driver as one planned step: plan, trial build, install, reload, verify, hold again (journaled)')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'nvfix;diagnose' {
            [CompletionResult]::new('--root', '--root', [CompletionResultType]::ParameterName, 'Host root to inspect: every file is read under it (a fixture tree, a mounted image)')
            [CompletionResult]::new('--nvml-lib', '--nvml-lib', [CompletionResultType]::ParameterName, 'NVML library to load [default: the system''s libnvidia-ml.so.1 when --root is /; not checked otherwise]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour in human output; auto: on a terminal, unless NO_COLOR, CLICOLOR=0 or TERM=dumb (CLICOLOR_FORCE=1 forces it)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print one JSON object (the documented, stable contract) instead of the report')
            [CompletionResult]::new('--no-holders', '--no-holders', [CompletionResultType]::ParameterName, 'Do not scan processes for GPU holders')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'nvfix;ps' {
            [CompletionResult]::new('--root', '--root', [CompletionResultType]::ParameterName, 'Host root to inspect: every file is read under it (a fixture tree, a mounted image)')
            [CompletionResult]::new('--nvml-lib', '--nvml-lib', [CompletionResultType]::ParameterName, 'NVML library to load [default: the system''s libnvidia-ml.so.1 when --root is /; not checked otherwise]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour in human output; auto: on a terminal, unless NO_COLOR, CLICOLOR=0 or TERM=dumb (CLICOLOR_FORCE=1 forces it)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print the holders as a JSON array')
            [CompletionResult]::new('--all', '--all', [CompletionResultType]::ParameterName, 'Also list processes that only map the driver libraries (libcuda, libnvidia-ml) without a device open — e.g. a job whose CUDA init failed during the mismatch and stays broken until restarted. Slower: reads every process''s memory maps')
            [CompletionResult]::new('--wide', '--wide', [CompletionResultType]::ParameterName, 'Print every column in full; by default the table fits the terminal (80 columns when not a terminal), long cells cut with `…`')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'nvfix;reload' {
            [CompletionResult]::new('--grace', '--grace', [CompletionResultType]::ParameterName, 'Seconds a process gets to exit after SIGTERM (at most 3600)')
            [CompletionResult]::new('--module-timeout', '--module-timeout', [CompletionResultType]::ParameterName, 'Seconds each modprobe may take; past it the command is stopped (a module stuck in the kernel means reboot)')
            [CompletionResult]::new('--root', '--root', [CompletionResultType]::ParameterName, 'Host root to inspect: every file is read under it (a fixture tree, a mounted image)')
            [CompletionResult]::new('--nvml-lib', '--nvml-lib', [CompletionResultType]::ParameterName, 'NVML library to load [default: the system''s libnvidia-ml.so.1 when --root is /; not checked otherwise]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour in human output; auto: on a terminal, unless NO_COLOR, CLICOLOR=0 or TERM=dumb (CLICOLOR_FORCE=1 forces it)')
            [CompletionResult]::new('--dry-run', '--dry-run', [CompletionResultType]::ParameterName, 'Print the plan (steps, holders, blockers) and change nothing')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print JSON (the plan with --dry-run, the run''s report otherwise) instead of text')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Run without questions (processes get SIGTERM only, unless --kill); needed without a terminal')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Run without questions (processes get SIGTERM only, unless --kill); needed without a terminal')
            [CompletionResult]::new('--kill', '--kill', [CompletionResultType]::ParameterName, 'SIGKILL processes still running after the grace period')
            [CompletionResult]::new('--resume', '--resume', [CompletionResultType]::ParameterName, 'Undo an interrupted reload from its journal (/run/nvfix/journal.json): load the modules, start the services')
            [CompletionResult]::new('--allow-display-stop', '--allow-display-stop', [CompletionResultType]::ParameterName, 'Allow stopping the display manager (the local console and graphical sessions go dark)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'nvfix;verify' {
            [CompletionResult]::new('--root', '--root', [CompletionResultType]::ParameterName, 'Host root to inspect: every file is read under it (a fixture tree, a mounted image)')
            [CompletionResult]::new('--nvml-lib', '--nvml-lib', [CompletionResultType]::ParameterName, 'NVML library to load [default: the system''s libnvidia-ml.so.1 when --root is /; not checked otherwise]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour in human output; auto: on a terminal, unless NO_COLOR, CLICOLOR=0 or TERM=dumb (CLICOLOR_FORCE=1 forces it)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print the checks as JSON')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'nvfix;hold' {
            [CompletionResult]::new('--root', '--root', [CompletionResultType]::ParameterName, 'Host root to inspect: every file is read under it (a fixture tree, a mounted image)')
            [CompletionResult]::new('--nvml-lib', '--nvml-lib', [CompletionResultType]::ParameterName, 'NVML library to load [default: the system''s libnvidia-ml.so.1 when --root is /; not checked otherwise]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour in human output; auto: on a terminal, unless NO_COLOR, CLICOLOR=0 or TERM=dumb (CLICOLOR_FORCE=1 forces it)')
            [CompletionResult]::new('--undo', '--undo', [CompletionResultType]::ParameterName, 'Release exactly what nvfix held (packages held before nvfix ran stay held) and remove its drop-in')
            [CompletionResult]::new('--status', '--status', [CompletionResultType]::ParameterName, 'Show what is held and whether an automatic upgrade could still replace the driver (exit 1 when it could)')
            [CompletionResult]::new('--dry-run', '--dry-run', [CompletionResultType]::ParameterName, 'Show the commands and files without running or writing anything')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print one JSON object instead of text')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'nvfix;metrics' {
            [CompletionResult]::new('--textfile', '--textfile', [CompletionResultType]::ParameterName, 'Where to write the textfile (atomically); `-` prints to stdout [default: under --root, /var/lib/prometheus/node-exporter/nvfix.prom]')
            [CompletionResult]::new('--root', '--root', [CompletionResultType]::ParameterName, 'Host root to inspect: every file is read under it (a fixture tree, a mounted image)')
            [CompletionResult]::new('--nvml-lib', '--nvml-lib', [CompletionResultType]::ParameterName, 'NVML library to load [default: the system''s libnvidia-ml.so.1 when --root is /; not checked otherwise]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour in human output; auto: on a terminal, unless NO_COLOR, CLICOLOR=0 or TERM=dumb (CLICOLOR_FORCE=1 forces it)')
            [CompletionResult]::new('--no-holders', '--no-holders', [CompletionResultType]::ParameterName, 'Do not scan processes for GPU holders (nvfix_gpu_holders is then left out)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'nvfix;check' {
            [CompletionResult]::new('--format', '--format', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Write the output to this file (atomically) instead of stdout')
            [CompletionResult]::new('--root', '--root', [CompletionResultType]::ParameterName, 'Host root to inspect: every file is read under it (a fixture tree, a mounted image)')
            [CompletionResult]::new('--nvml-lib', '--nvml-lib', [CompletionResultType]::ParameterName, 'NVML library to load [default: the system''s libnvidia-ml.so.1 when --root is /; not checked otherwise]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour in human output; auto: on a terminal, unless NO_COLOR, CLICOLOR=0 or TERM=dumb (CLICOLOR_FORCE=1 forces it)')
            [CompletionResult]::new('--no-holders', '--no-holders', [CompletionResultType]::ParameterName, 'Do not scan processes for GPU holders (faster; the holder count is left out)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'nvfix;auto' {
            [CompletionResult]::new('--playbook', '--playbook', [CompletionResultType]::ParameterName, 'The playbook to act within: a name (/etc/nvfix/playbooks/NAME.yaml, then /usr/share/nvfix/playbooks/NAME.yaml) or a path (with a `/` or ending in .yaml) [default: the one /etc/nvfix/nvfix.yaml selects, else the built-in default: reload only when no user process holds the GPU, never reboot]')
            [CompletionResult]::new('--module-timeout', '--module-timeout', [CompletionResultType]::ParameterName, 'Seconds each modprobe may take; past it the command is stopped (a module stuck in the kernel means reboot)')
            [CompletionResult]::new('--root', '--root', [CompletionResultType]::ParameterName, 'Host root to inspect: every file is read under it (a fixture tree, a mounted image)')
            [CompletionResult]::new('--nvml-lib', '--nvml-lib', [CompletionResultType]::ParameterName, 'NVML library to load [default: the system''s libnvidia-ml.so.1 when --root is /; not checked otherwise]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour in human output; auto: on a terminal, unless NO_COLOR, CLICOLOR=0 or TERM=dumb (CLICOLOR_FORCE=1 forces it)')
            [CompletionResult]::new('--allow-reboot', '--allow-reboot', [CompletionResultType]::ParameterName, 'Allow a reboot for this run even if the playbook does not (--yes never does)')
            [CompletionResult]::new('--dry-run', '--dry-run', [CompletionResultType]::ParameterName, 'Decide and check every guard, but change nothing')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print the report as JSON (schema nvfix.auto/v1)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'nvfix;sentinel' {
            [CompletionResult]::new('--playbook', '--playbook', [CompletionResultType]::ParameterName, 'The playbook whose reload policy decides whether a reload could fix the host instead: a name or a path, as for `nvfix auto` [default: the one /etc/nvfix/nvfix.yaml selects, else the built-in default]')
            [CompletionResult]::new('--root', '--root', [CompletionResultType]::ParameterName, 'Host root to inspect: every file is read under it (a fixture tree, a mounted image)')
            [CompletionResult]::new('--nvml-lib', '--nvml-lib', [CompletionResultType]::ParameterName, 'NVML library to load [default: the system''s libnvidia-ml.so.1 when --root is /; not checked otherwise]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour in human output; auto: on a terminal, unless NO_COLOR, CLICOLOR=0 or TERM=dumb (CLICOLOR_FORCE=1 forces it)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'nvfix;reboot' {
            [CompletionResult]::new('--delay', '--delay', [CompletionResultType]::ParameterName, 'Minutes until the reboot (wall message to logged-in users; 0 reboots now; at most 1440) [default: the playbook''s, 5]')
            [CompletionResult]::new('--playbook', '--playbook', [CompletionResultType]::ParameterName, 'Take the delay, the maintenance window, the reboot limit and the handoff commands from this playbook: a name or a path, as for `nvfix auto` [default: the one /etc/nvfix/nvfix.yaml selects, else the built-in default]')
            [CompletionResult]::new('--root', '--root', [CompletionResultType]::ParameterName, 'Host root to inspect: every file is read under it (a fixture tree, a mounted image)')
            [CompletionResult]::new('--nvml-lib', '--nvml-lib', [CompletionResultType]::ParameterName, 'NVML library to load [default: the system''s libnvidia-ml.so.1 when --root is /; not checked otherwise]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour in human output; auto: on a terminal, unless NO_COLOR, CLICOLOR=0 or TERM=dumb (CLICOLOR_FORCE=1 forces it)')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Do not ask for confirmation (needed without a terminal)')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Do not ask for confirmation (needed without a terminal)')
            [CompletionResult]::new('--dry-run', '--dry-run', [CompletionResultType]::ParameterName, 'Check and report every guard, schedule nothing')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print the report as JSON (schema nvfix.reboot/v1)')
            [CompletionResult]::new('--now', '--now', [CompletionResultType]::ParameterName, 'Reboot now, through systemctl reboot --check-inhibitors=yes')
            [CompletionResult]::new('--cancel', '--cancel', [CompletionResultType]::ParameterName, 'Cancel the reboot nvfix scheduled (shutdown -c), or take back one it handed off (the playbook''s reboot.cancel_handoff)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'nvfix;playbook' {
            [CompletionResult]::new('--root', '--root', [CompletionResultType]::ParameterName, 'Host root to inspect: every file is read under it (a fixture tree, a mounted image)')
            [CompletionResult]::new('--nvml-lib', '--nvml-lib', [CompletionResultType]::ParameterName, 'NVML library to load [default: the system''s libnvidia-ml.so.1 when --root is /; not checked otherwise]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour in human output; auto: on a terminal, unless NO_COLOR, CLICOLOR=0 or TERM=dumb (CLICOLOR_FORCE=1 forces it)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('check', 'check', [CompletionResultType]::ParameterValue, 'Validate a playbook: exit 0, or FILE:LINE:COLUMN errors (65 not YAML, 78 not a valid playbook, 77 unsafe owner)')
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'List the playbook names (local in /etc/nvfix/playbooks, shipped in /usr/share/nvfix/playbooks, built-in) and which one /etc/nvfix/nvfix.yaml selects')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'nvfix;playbook;check' {
            [CompletionResult]::new('--root', '--root', [CompletionResultType]::ParameterName, 'Host root to inspect: every file is read under it (a fixture tree, a mounted image)')
            [CompletionResult]::new('--nvml-lib', '--nvml-lib', [CompletionResultType]::ParameterName, 'NVML library to load [default: the system''s libnvidia-ml.so.1 when --root is /; not checked otherwise]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour in human output; auto: on a terminal, unless NO_COLOR, CLICOLOR=0 or TERM=dumb (CLICOLOR_FORCE=1 forces it)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'nvfix;playbook;list' {
            [CompletionResult]::new('--root', '--root', [CompletionResultType]::ParameterName, 'Host root to inspect: every file is read under it (a fixture tree, a mounted image)')
            [CompletionResult]::new('--nvml-lib', '--nvml-lib', [CompletionResultType]::ParameterName, 'NVML library to load [default: the system''s libnvidia-ml.so.1 when --root is /; not checked otherwise]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour in human output; auto: on a terminal, unless NO_COLOR, CLICOLOR=0 or TERM=dumb (CLICOLOR_FORCE=1 forces it)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print one JSON object (schema nvfix.playbooks/v1) instead of the table')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'nvfix;playbook;help' {
            [CompletionResult]::new('check', 'check', [CompletionResultType]::ParameterValue, 'Validate a playbook: exit 0, or FILE:LINE:COLUMN errors (65 not YAML, 78 not a valid playbook, 77 unsafe owner)')
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'List the playbook names (local in /etc/nvfix/playbooks, shipped in /usr/share/nvfix/playbooks, built-in) and which one /etc/nvfix/nvfix.yaml selects')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'nvfix;playbook;help;check' {
            break
        }
        'nvfix;playbook;help;list' {
            break
        }
        'nvfix;playbook;help;help' {
            break
        }
        'nvfix;upgrade' {
            [CompletionResult]::new('--to', '--to', [CompletionResultType]::ParameterName, 'The version to install: the driver version (580.95.05) or the exact package version')
            [CompletionResult]::new('--textfile', '--textfile', [CompletionResultType]::ParameterName, 'With --check: write node_exporter metrics (nvfix_driver_upgrade_*) to this file, atomically (`-`: stdout)')
            [CompletionResult]::new('--playbook', '--playbook', [CompletionResultType]::ParameterName, 'Let this playbook decide how the new version is loaded, as nvfix auto does (reload, quarantine until idle, or a reboot): a name or a path [default: reload now, as nvfix reload]')
            [CompletionResult]::new('--grace', '--grace', [CompletionResultType]::ParameterName, 'Seconds a process gets to exit after SIGTERM (at most 3600)')
            [CompletionResult]::new('--module-timeout', '--module-timeout', [CompletionResultType]::ParameterName, 'Seconds each modprobe may take; past it the command is stopped (a module stuck in the kernel means reboot)')
            [CompletionResult]::new('--root', '--root', [CompletionResultType]::ParameterName, 'Host root to inspect: every file is read under it (a fixture tree, a mounted image)')
            [CompletionResult]::new('--nvml-lib', '--nvml-lib', [CompletionResultType]::ParameterName, 'NVML library to load [default: the system''s libnvidia-ml.so.1 when --root is /; not checked otherwise]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour in human output; auto: on a terminal, unless NO_COLOR, CLICOLOR=0 or TERM=dumb (CLICOLOR_FORCE=1 forces it)')
            [CompletionResult]::new('--latest', '--latest', [CompletionResultType]::ParameterName, 'The newest version of the installed branch the repositories offer (the default)')
            [CompletionResult]::new('--dry-run', '--dry-run', [CompletionResultType]::ParameterName, 'Print the plan (packages and versions, kernels, what the reload stops, the way back) and change nothing')
            [CompletionResult]::new('--check', '--check', [CompletionResultType]::ParameterName, 'Say whether a newer driver of the installed branch is offered, and whether applying it is a reload or a reboot here (read-only)')
            [CompletionResult]::new('--resume', '--resume', [CompletionResultType]::ParameterName, 'Finish an interrupted upgrade from its journal (/var/lib/nvfix/upgrade.json)')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Run without questions (processes get SIGTERM only, unless --kill); needed without a terminal')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Run without questions (processes get SIGTERM only, unless --kill); needed without a terminal')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print one JSON object (schema nvfix.upgrade/v1; nvfix.upgrade-check/v1 with --check)')
            [CompletionResult]::new('--kill', '--kill', [CompletionResultType]::ParameterName, 'SIGKILL processes still running after the grace period')
            [CompletionResult]::new('--allow-display-stop', '--allow-display-stop', [CompletionResultType]::ParameterName, 'Allow stopping the display manager (the local console and graphical sessions go dark)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'nvfix;help' {
            [CompletionResult]::new('diagnose', 'diagnose', [CompletionResultType]::ParameterValue, 'Explain the driver''s state: what is loaded, what is installed, what changed, who holds the GPU, what to do')
            [CompletionResult]::new('ps', 'ps', [CompletionResultType]::ParameterValue, 'List the processes that hold the GPU (open /dev/nvidia* or DRM nodes, mapped driver libraries)')
            [CompletionResult]::new('reload', 'reload', [CompletionResultType]::ParameterValue, 'Swap the NVIDIA kernel modules without a reboot: stop the GPU''s holders, unload, load, verify (journaled)')
            [CompletionResult]::new('verify', 'verify', [CompletionResultType]::ParameterValue, 'Check the driver after a reload: NVML initialises, NVML == module == library version, no new API mismatch')
            [CompletionResult]::new('hold', 'hold', [CompletionResultType]::ParameterValue, 'Pin the installed driver packages (apt-mark hold + unattended-upgrades blacklist, or dnf versionlock)')
            [CompletionResult]::new('metrics', 'metrics', [CompletionResultType]::ParameterValue, 'Write node_exporter textfile metrics: the verdict, the action, the versions, the GPU holders')
            [CompletionResult]::new('check', 'check', [CompletionResultType]::ParameterValue, 'Read-only check in a monitoring engine''s format: Nagios, node-problem-detector, Prometheus textfile, JSON')
            [CompletionResult]::new('auto', 'auto', [CompletionResultType]::ParameterValue, 'Runbook mode: diagnose, then reload or reboot within a playbook''s policy; exit status says what happened')
            [CompletionResult]::new('sentinel', 'sentinel', [CompletionResultType]::ParameterValue, 'kured''s reboot sentinel: exit 0 only when a reboot is needed, would fix the driver, and no reload can')
            [CompletionResult]::new('reboot', 'reboot', [CompletionResultType]::ParameterValue, 'Reboot safely into a kernel whose NVIDIA module matches the library, after checking every guard')
            [CompletionResult]::new('playbook', 'playbook', [CompletionResultType]::ParameterValue, 'Work with playbooks (the policy `nvfix auto` acts within)')
            [CompletionResult]::new('upgrade', 'upgrade', [CompletionResultType]::ParameterValue, 'Upgrade a held driver as one planned step: plan, trial build, install, reload, verify, hold again (journaled)')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'nvfix;help;diagnose' {
            break
        }
        'nvfix;help;ps' {
            break
        }
        'nvfix;help;reload' {
            break
        }
        'nvfix;help;verify' {
            break
        }
        'nvfix;help;hold' {
            break
        }
        'nvfix;help;metrics' {
            break
        }
        'nvfix;help;check' {
            break
        }
        'nvfix;help;auto' {
            break
        }
        'nvfix;help;sentinel' {
            break
        }
        'nvfix;help;reboot' {
            break
        }
        'nvfix;help;playbook' {
            [CompletionResult]::new('check', 'check', [CompletionResultType]::ParameterValue, 'Validate a playbook: exit 0, or FILE:LINE:COLUMN errors (65 not YAML, 78 not a valid playbook, 77 unsafe owner)')
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'List the playbook names (local in /etc/nvfix/playbooks, shipped in /usr/share/nvfix/playbooks, built-in) and which one /etc/nvfix/nvfix.yaml selects')
            break
        }
        'nvfix;help;playbook;check' {
            break
        }
        'nvfix;help;playbook;list' {
            break
        }
        'nvfix;help;upgrade' {
            break
        }
        'nvfix;help;help' {
            break
        }
    })

    $completions.Where{ $_.CompletionText -like "$wordToComplete*" } |
        Sort-Object -Property ListItemText
}
