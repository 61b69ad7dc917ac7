using System.Globalization;
using System.Text;
using Scheduler.Actors.Pods;
using Scheduler.Messages.Jobs;
using Scheduler.Messages.Settings;

namespace Scheduler.Actors.Scripts;

/// <summary>
/// Generates a job's stage scripts as GitLab Runner's shell does (docs/execution.md). Pure: no I/O.
/// </summary>
/// <remarks>
/// Every script: run again under the shell GitLab Runner's detection finds (bash where the image has it, else sh, else
/// busybox's sh); <c>set -e</c> (and <c>pipefail</c> where the shell has it); <c>umask 0000</c> in helper stages; a
/// section around the stage; the variables
/// exported by sourcing <see cref="JobScriptPlan.VariablesScript"/>, stored once for all stages (runner-side predefined
/// ones, then runner <c>environment</c>, then the job's, so the job's win); secret values
/// are read from the job Secret's files at run time and never written into a script; public values that are not raw keep
/// their <c>$X</c> references live, so they are expanded in the pod. Commands of step_script and after_script are each
/// echoed as <c>$ command</c> in green and followed by an explicit exit-code check, so the first failing command ends the
/// stage with its code even where <c>set -e</c> does not apply (<c>a &amp;&amp; b</c>).
/// Artifacts go to and come from GitLab only when <see cref="ScriptOptions.GitLabUrl"/> is set and the job does not name
/// an unreachable server (<c>scheduler exec</c>): then <c>download_artifacts</c> fetches the dependencies' archives into
/// the project directory and the upload stages send each archive to GitLab; the job token is read by the helper from
/// the job Secret's file. Without it the upload stages only leave their archives in the pod. git fetches with a credential
/// helper that reads the token file, so the token is on no command line; submodules and LFS get it the same way.
/// <c>CI_DEBUG_TRACE</c> traces the user's commands (<c>set -x</c>) after the variables are exported.
/// Caches as GitLab Runner: <c>restore_cache</c> tries the key, then <c>cache:fallback_keys</c>, then
/// <c>CACHE_FALLBACK_KEY</c>; the archive stages follow <c>policy</c> and <c>when</c>. With a distributed cache
/// (<see cref="ScriptOptions.CacheUrls"/>) the helper downloads and uploads the archive with pre-signed URLs that the job
/// Secret holds (<see cref="JobScriptPlan.CacheUrls"/>); the scripts name only their files.
/// Not done: expansion of references inside non-public values (they are exported literally).
/// </remarks>
public static class JobScripts
{
    public const string GetSources = "get_sources";
    public const string RestoreCache = "restore_cache";
    public const string DownloadArtifacts = "download_artifacts";
    public const string StepScript = "step_script";
    public const string AfterScript = "after_script";
    public const string ArchiveCache = "archive_cache";
    public const string ArchiveCacheOnFailure = "archive_cache_on_failure";
    public const string UploadArtifactsOnSuccess = "upload_artifacts_on_success";
    public const string UploadArtifactsOnFailure = "upload_artifacts_on_failure";

    /// <summary>GitLab Runner's feature flag that turns the helper stages' <c>umask 0000</c> off.</summary>
    public const string UmaskDisabledFlag = "FF_DISABLE_UMASK_FOR_KUBERNETES_EXECUTOR";

    /// <summary>GitLab Runner's warning when a job asks for <c>CI_DEBUG_TRACE</c> on a runner with <c>debug_trace_disabled</c>.</summary>
    public const string DebugTraceDisabledWarning = "CI_DEBUG_TRACE usage is disabled on this Runner";

    /// <summary>The warning a traced job's log starts with.</summary>
    public const string DebugTraceWarning = "CI_DEBUG_TRACE is enabled: the job's commands are traced in this log; masked variables stay masked";

    /// <summary>Written by the runner (<see cref="StageCommands.MarkCanceled"/>) when a job is canceled: after_script then
    /// sees <c>CI_JOB_STATUS=canceled</c>.</summary>
    public const string CanceledMarker = StageCommands.RunDir + "/job.canceled";

    /// <summary>Where the artifact stages leave their archives: <c>&lt;RunDir&gt;/artifacts/&lt;index&gt;.zip</c> (<c>.gz</c>, <c>.raw</c>).</summary>
    public const string ArtifactsDir = StageCommands.RunDir + "/artifacts";

    /// <summary>Where <c>download_artifacts</c> keeps the dependencies' archives: <c>&lt;RunDir&gt;/dependencies/&lt;job id&gt;.zip</c>.</summary>
    public const string DependenciesDir = StageCommands.RunDir + "/dependencies";

    /// <summary>The job token's file, which the helper reads for GitLab's <c>JOB-TOKEN</c> header.</summary>
    public const string TokenFile = JobSecretLayout.MountPath + "/" + JobSecretLayout.TokenKey;

    public static JobScriptPlan Build(JobPayload job, RunnerEntry runner, int concurrentId, RunnerIdentity identity, ScriptOptions options)
    {
        var context = new ScriptContext(job, runner, concurrentId, identity, options);
        var gitLabUrl = GitLabForArtifacts(job, options);
        var stages = new List<StagePlan>
        {
            new(GetSources, PodBuilder.HelperContainer, StageRunsWhen.Always, context.Script(GetSources, "Getting source from Git repository",
                changeDirectory: false, GetSourcesBody(job, runner, context), helper: true, attemptsVariable: "GET_SOURCES_ATTEMPTS")),
        };

        // As GitLab Runner: a cache without paths and without untracked has nothing to restore or archive.
        var caches = job.Cache.Select((cache, index) => (cache, index)).Where(c => c.cache.Paths.Count > 0 || c.cache.Untracked).ToList();
        var restored = caches.Where(c => context.CachePolicy(c.cache) is "pull" or "pull-push").ToList();
        if (restored.Count > 0)
        {
            stages.Add(new StagePlan(RestoreCache, PodBuilder.HelperContainer, StageRunsWhen.OnSuccess,
                context.Script(RestoreCache, "Restoring cache", changeDirectory: true, RestoreCacheBody(restored, context), helper: true,
                    attemptsVariable: "RESTORE_CACHE_ATTEMPTS")));
        }

        var downloads = job.Dependencies.Where(d => !string.IsNullOrEmpty(d.ArtifactsFile?.Filename)).ToList();
        if (gitLabUrl is not null && downloads.Count > 0)
        {
            stages.Add(new StagePlan(DownloadArtifacts, PodBuilder.HelperContainer, StageRunsWhen.OnSuccess,
                context.Script(DownloadArtifacts, "Downloading artifacts", changeDirectory: true, DownloadArtifactsBody(downloads, context, gitLabUrl),
                    helper: true)));
        }

        var script = CommandsOf(job, "script");
        if (script.Count > 0)
        {
            // pre_build_script and post_build_script of [[runners]] run around the job's script, each as one command.
            List<string> commands = [.. NonEmpty(runner.PreBuildScript), .. script, .. NonEmpty(runner.PostBuildScript)];
            stages.Add(new StagePlan(StepScript, PodBuilder.BuildContainer, StageRunsWhen.OnSuccess,
                context.Script(StepScript, "Executing \"step_script\" stage of the job script", changeDirectory: true,
                    DebugTraceBody(context, warn: true) + CommandsBody(commands))));
        }

        var afterScript = CommandsOf(job, "after_script");
        if (afterScript.Count > 0)
        {
            stages.Add(new StagePlan(AfterScript, PodBuilder.BuildContainer, StageRunsWhen.Always,
                context.Script(AfterScript, "Running after_script", changeDirectory: true,
                    JobStatusBody() + DebugTraceBody(context, warn: false) + CommandsBody(afterScript)),
                IgnoreFailure: true, Timeout: options.AfterScriptTimeout ?? ScriptOptions.DefaultAfterScriptTimeout));
        }

        var pushed = caches.Where(c => context.CachePolicy(c.cache) is "push" or "pull-push").ToList();
        AddArchiveCache(ArchiveCache, StageRunsWhen.OnSuccess, "Saving cache for successful job", "on_success");
        AddArchiveCache(ArchiveCacheOnFailure, StageRunsWhen.OnFailure, "Saving cache for failed job", "on_failure");

        var archives = new List<string>();
        var artifacts = job.Artifacts.Select((artifact, index) => (artifact, index)).ToList();
        AddArtifacts(UploadArtifactsOnSuccess, StageRunsWhen.OnSuccess, "Uploading artifacts for successful job", "on_success");
        AddArtifacts(UploadArtifactsOnFailure, StageRunsWhen.OnFailure, "Uploading artifacts for failed job", "on_failure");

        return new JobScriptPlan(stages, archives.Distinct(StringComparer.Ordinal).ToList(), context.VariablesScript())
        {
            CacheUrls = context.CacheUrls,
        };

        void AddArchiveCache(string name, StageRunsWhen when, string header, string whenValue)
        {
            var selected = pushed.Where(c => Matches(c.cache.When, whenValue)).ToList();
            if (selected.Count > 0)
            {
                stages.Add(new StagePlan(name, PodBuilder.HelperContainer, when,
                    context.Script(name, header, changeDirectory: true, ArchiveCacheBody(selected, context), helper: true)));
            }
        }

        void AddArtifacts(string name, StageRunsWhen when, string header, string whenValue)
        {
            var selected = artifacts.Where(a => Matches(a.artifact.When, whenValue) && (a.artifact.Paths.Count > 0 || a.artifact.Untracked)).ToList();
            if (selected.Count > 0)
            {
                stages.Add(new StagePlan(name, PodBuilder.HelperContainer, when,
                    context.Script(name, header, changeDirectory: true, ArtifactsBody(selected, context, archives, gitLabUrl), helper: true)));
            }
        }
    }

    /// <summary>The job with <c>CI_SERVER_TLS_CA_FILE</c>, a file variable holding the runner entry's <c>tls-ca-file</c>
    /// certificates, as GitLab Runner hands a job its GitLab's CA: git (GIT_SSL_CAINFO in get_sources) and the helper's
    /// calls to GitLab trust it. A job that sets the variable itself keeps its own.</summary>
    public static JobPayload WithServerCa(JobPayload job, RunnerEntry runner) =>
        string.IsNullOrEmpty(runner.TlsCaCertificates) || job.Variables.Any(v => v.Key == ServerCaVariable)
            ? job
            : job with { Variables = [.. job.Variables, new JobVariable { Key = ServerCaVariable, Value = runner.TlsCaCertificates, Public = true, File = true }] };

    /// <summary>GitLab Runner's variable naming the file with the GitLab server's CA.</summary>
    public const string ServerCaVariable = "CI_SERVER_TLS_CA_FILE";

    /// <summary>The directory of the project's checkout: <c>&lt;builds dir&gt;/&lt;project full path&gt;</c> (the project id
    /// when the path is not a plain relative path).</summary>
    public static string ProjectDir(JobPayload job, string buildsDir) =>
        buildsDir.TrimEnd('/') + "/" + SafeRelativePath(job.JobInfo.ProjectFullPath, "project-" + job.JobInfo.ProjectId.ToString(CultureInfo.InvariantCulture));

    /// <summary>GitLab Runner's rule for <c>GIT_CLONE_PATH</c> (already expanded): empty keeps <paramref name="defaultDir"/>; otherwise
    /// it needs <c>custom_build_dir</c> enabled and must be an absolute path within <paramref name="buildsDir"/>, and is used
    /// cleaned (<c>.</c> and <c>..</c> resolved). A path GitLab Runner refuses fails the job with its message.</summary>
    public static string ClonePath(string gitClonePath, string buildsDir, bool customBuildDirEnabled, string defaultDir)
    {
        if (gitClonePath.Length == 0)
        {
            return defaultDir;
        }

        if (!customBuildDirEnabled)
        {
            throw new ArgumentException("setting GIT_CLONE_PATH is not allowed, enable `custom_build_dir` feature");
        }

        var root = CleanPath(buildsDir);
        var dir = CleanPath(gitClonePath);
        var relative = dir == root ? "." : root == "/" ? dir[1..] : dir.StartsWith(root + "/", StringComparison.Ordinal) ? dir[(root.Length + 1)..] : "..";
        // GitLab Runner refuses any relative form that starts with "..", a first segment such as "..cache" included.
        if (!gitClonePath.StartsWith('/') || relative.StartsWith("..", StringComparison.Ordinal) || dir.Any(char.IsControl))
        {
            throw new ArgumentException($"the GIT_CLONE_PATH=\"{gitClonePath}\" has to be within \"{buildsDir}\"");
        }

        return dir;
    }

    // Go's path.Clean for an absolute path: repeated and trailing slashes, "." and ".." resolved ("/.." stays "/").
    private static string CleanPath(string path)
    {
        var segments = new List<string>();
        foreach (var part in path.Split('/'))
        {
            if (part is "" or ".")
            {
                continue;
            }

            if (part == "..")
            {
                if (segments.Count > 0)
                {
                    segments.RemoveAt(segments.Count - 1);
                }

                continue;
            }

            segments.Add(part);
        }

        return "/" + string.Join('/', segments);
    }

    /// <summary>The cache archive of a key, as GitLab Runner's local cache: <c>&lt;cache dir&gt;/&lt;project&gt;/&lt;key&gt;/cache.zip</c>.</summary>
    public static string CacheFile(JobPayload job, string cacheDir, string key) =>
        cacheDir.TrimEnd('/') + "/" + SafeRelativePath(job.JobInfo.ProjectFullPath, "project-" + job.JobInfo.ProjectId.ToString(CultureInfo.InvariantCulture))
        + "/" + key + "/cache.zip";

    /// <summary>The GitLab URL the pod uses for artifacts, or null when artifacts stay in the pod: no URL in the options,
    /// or a job whose <c>CI_SERVER_URL</c> no pod can reach (<c>scheduler exec</c>, even with a config naming a real GitLab).</summary>
    public static string? GitLabForArtifacts(JobPayload job, ScriptOptions options)
    {
        if (options.GitLabUrl is not { } url || !ScriptOptions.IsReachableGitLab(url))
        {
            return null;
        }

        var server = job.Variables.LastOrDefault(v => v.Key == "CI_SERVER_URL")?.Value;
        return string.IsNullOrEmpty(server) || ScriptOptions.IsReachableGitLab(server) ? url : null;
    }

    private static bool Matches(string when, string stageWhen) =>
        (string.IsNullOrEmpty(when) ? "on_success" : when) is var w && (w == "always" || w == stageWhen);

    private static IReadOnlyList<string> CommandsOf(JobPayload job, string stepName) =>
        job.Steps.Where(step => step.Name == stepName).SelectMany(step => step.Script).Where(line => !string.IsNullOrWhiteSpace(line)).ToList();

    private static string SafeRelativePath(string path, string fallback)
    {
        var segments = path.Split('/');
        var safe = path.Length > 0 && segments.All(s => s.Length > 0 && s != "." && s != ".." && !s.Any(char.IsControl) && !s.Contains('\\'));
        return safe ? path : fallback;
    }

    // Each command: echoed like GitLab Runner (a multi-line command shows its first line), run, then its code checked.
    private static string CommandsBody(IReadOnlyList<string> commands)
    {
        var body = new StringBuilder();
        foreach (var command in commands)
        {
            var lines = command.Replace("\r\n", "\n", StringComparison.Ordinal).Split('\n');
            var shown = lines.Length > 1 ? lines[0] + " # collapsed multi-line command" : lines[0];
            body.Append("printf '\\033[32;1m$ %s\\033[0;m\\n' ").Append(ShellText.Quote(shown)).Append('\n');
            body.Append(command.Replace("\r\n", "\n", StringComparison.Ordinal).TrimEnd('\n')).Append('\n');
            body.Append("_r=$?; [ \"$_r\" -eq 0 ] || exit \"$_r\"\n");
        }

        return body.ToString();
    }

    // after_script sees how the job ended (GitLab Runner's CI_JOB_STATUS): canceled when the runner marked it so, else from
    // step_script's exit marker.
    private static string JobStatusBody()
    {
        var marker = ShellText.Quote(StageCommands.RunDir + "/" + StepScript + ".exit");
        return $"if [ -f {ShellText.Quote(CanceledMarker)} ]; then CI_JOB_STATUS=canceled; "
               + $"elif [ -f {marker} ] && [ \"$(cat {marker})\" = 0 ]; then CI_JOB_STATUS=success; else CI_JOB_STATUS=failed; fi\n"
               + "export CI_JOB_STATUS\n";
    }

    // CI_DEBUG_TRACE: the user's commands are traced from here on (the variables were sourced untraced, so the script's
    // own reading of secret files is not shown); what the trace shows still goes through the runner's masking.
    private static string DebugTraceBody(ScriptContext context, bool warn)
    {
        if (context.DebugTrace)
        {
            var warning = warn ? "printf '\\033[0;33mWARNING: %s\\033[0;m\\n' " + ShellText.Quote(DebugTraceWarning) + "\n" : "";
            return warning + "set -x\n";
        }

        return warn && context.DebugTraceRequested
            ? "printf '\\033[0;33mWARNING: %s\\033[0;m\\n' " + ShellText.Quote(DebugTraceDisabledWarning) + "\n"
            : "";
    }

    private static IEnumerable<string> NonEmpty(string? script) =>
        string.IsNullOrWhiteSpace(script) ? [] : [script];

    private static string GetSourcesBody(JobPayload job, RunnerEntry runner, ScriptContext context)
    {
        var git = job.GitInfo;
        var defaultStrategy = job.AllowGitFetch ? "fetch" : "clone";
        var shortSha = git.Sha.Length > 8 ? git.Sha[..8] : git.Sha;
        var (plainUrl, credentialUser) = RepositoryUrl(job, runner);
        var refspecs = git.Refspecs.Count > 0 ? git.Refspecs : ["+refs/heads/*:refs/remotes/origin/*", "+refs/tags/*:refs/tags/*"];
        var body = new StringBuilder();
        if (!string.IsNullOrWhiteSpace(runner.PreGetSourcesScript))
        {
            body.Append(CommandsBody([runner.PreGetSourcesScript]));
        }

        // The repository part runs in a subshell of its own: GIT_STRATEGY none leaves it early, and post_get_sources_script
        // still runs, as in GitLab Runner.
        body.Append("(\n");
        body.Append($"_strategy=\"${{GIT_STRATEGY:-{defaultStrategy}}}\"\n");
        body.Append(CleanGitConfigBody(runner));
        body.Append($"_depth=\"${{GIT_DEPTH:-{Math.Max(0, git.Depth).ToString(CultureInfo.InvariantCulture)}}}\"\n");
        // safe_directory_checkout (on unless set false, as for GitLab Runner's Kubernetes executor): git trusts the checkout
        // whoever owns it (a builds volume an earlier job's image wrote as another user), for these commands only.
        body.Append("_git() { git ").Append(runner.SafeDirectoryCheckout ?? true ? "-c safe.directory=\"$CI_PROJECT_DIR\" " : "")
            .Append("-c init.defaultBranch=main -c advice.detachedHead=false \"$@\"; }\n");
        body.Append("""
            case "$_strategy" in
              none) echo "Skipping Git repository setup"; mkdir -p "$CI_PROJECT_DIR"; exit 0 ;;
              clone) rm -rf "$CI_PROJECT_DIR" ;;
              fetch) ;;
              *) echo "ERROR: unknown GIT_STRATEGY \"$_strategy\": use clone, fetch or none"; exit 1 ;;
            esac
            _submodules="${GIT_SUBMODULE_STRATEGY:-none}"
            case "$_submodules" in
              none|normal|recursive) ;;
              *) echo "ERROR: unknown GIT_SUBMODULE_STRATEGY \"$_submodules\": use none, normal or recursive"; exit 1 ;;
            esac
            export GIT_TERMINAL_PROMPT=0
            # A custom CA of the GitLab server (CI_SERVER_TLS_CA_FILE) is the one git trusts, as in GitLab Runner.
            if [ -n "${CI_SERVER_TLS_CA_FILE:-}" ]; then export GIT_SSL_CAINFO="$CI_SERVER_TLS_CA_FILE"; fi
            # LFS objects are pulled after the checkout (below), never by the checkout's smudge filter.
            _lfs_skip="${GIT_LFS_SKIP_SMUDGE:-}"
            export GIT_LFS_SKIP_SMUDGE=1
            case "$_depth" in ''|*[!0-9]*) _depth=0 ;; esac
            _fetch_flags="${GIT_FETCH_EXTRA_FLAGS:---prune --quiet}"
            if [ "$_fetch_flags" = none ]; then _fetch_flags=; fi
            if [ "$_depth" -gt 0 ]; then echo "Fetching changes with git depth set to $_depth..."; else echo "Fetching changes..."; fi
            mkdir -p "$CI_PROJECT_DIR"
            cd "$CI_PROJECT_DIR"
            if [ -d .git ]; then
              echo "Reinitialized existing Git repository in $CI_PROJECT_DIR/.git/"
            else
              _git init -q
              echo "Initialized empty Git repository in $CI_PROJECT_DIR/.git/"
              echo "Created fresh repository."
            fi
            _git remote remove origin >/dev/null 2>&1 || true

            """);
        body.Append("_git remote add origin ").Append(ShellText.Quote(plainUrl)).Append('\n');
        if (credentialUser is not null)
        {
            // The token is never on a command line (ps shows every argv) nor in the script: git asks a credential helper,
            // which reads it from the job Secret's file. The helper answers for the repository's origin only (not for a
            // host a redirect names); helpers configured elsewhere are reset for these commands. Submodules on the same
            // server (relative URLs included) and LFS get the token the same way: git passes -c settings on to them.
            body.Append("_gitauth() { _git -c credential.helper= -c ")
                .Append(ShellText.Quote($"credential.{Origin(plainUrl)}.helper={CredentialHelper(credentialUser)}")).Append(" \"$@\"; }\n");
        }
        else
        {
            body.Append("_gitauth() { _git \"$@\"; }\n");
        }

        body.Append("_url=").Append(ShellText.Quote(plainUrl)).Append('\n');
        body.Append("if [ \"$_depth\" -gt 0 ]; then set -- --depth \"$_depth\"; else set --; fi\n");
        // The extra flags are words, as GitLab Runner splits them; no globbing.
        body.Append("set -f\n_gitauth fetch $_fetch_flags \"$@\" \"$_url\" ").Append(ShellText.QuoteAll(refspecs)).Append("\nset +f\n");
        if (git.Sha.Length > 0)
        {
            // The commit may be outside the refspecs (a merge request ref): fetch it by id when it is not there yet.
            body.Append("_git cat-file -e ").Append(ShellText.Quote(git.Sha + "^{commit}")).Append(" 2>/dev/null || _gitauth fetch -q \"$@\" \"$_url\" ")
                .Append(ShellText.Quote(git.Sha)).Append('\n');
        }

        var target = git.Sha.Length > 0 ? git.Sha : "FETCH_HEAD";
        body.Append("if [ \"${GIT_CHECKOUT:-true}\" != false ]; then\n");
        body.Append("  printf 'Checking out %s as %s...\\n' ").Append(ShellText.Quote(shortSha)).Append(' ').Append(ShellText.Quote(git.Ref)).Append('\n');
        body.Append("  _git checkout -f -q ").Append(ShellText.Quote(target)).Append('\n');
        body.Append("""
              _clean="${GIT_CLEAN_FLAGS:--ffdx}"
              if [ "$_clean" != none ]; then set -f; _git clean $_clean -q; set +f; fi
              _has_lfs=
              if [ "$_lfs_skip" != 1 ]; then
                if _git lfs version >/dev/null 2>&1; then
                  _has_lfs=1
                  _gitauth lfs pull
                else
                  echo "Skipping Git LFS objects: git-lfs is not installed in the helper image"
                fi
              fi
              if [ "$_submodules" != none ]; then
                _recursive=
                if [ "$_submodules" = recursive ]; then _recursive=--recursive; echo "Updating/initializing submodules recursively..."
                else echo "Updating/initializing submodules..."; fi
                _sdepth="${GIT_SUBMODULE_DEPTH:-$_depth}"
                case "$_sdepth" in ''|*[!0-9]*) _sdepth=0 ;; esac
                if [ "$_sdepth" -gt 0 ]; then _sdepth="--depth $_sdepth"; else _sdepth=; fi
                set -f
                _git submodule init -- ${GIT_SUBMODULE_PATHS:-}
                _git submodule sync $_recursive -- ${GIT_SUBMODULE_PATHS:-}
                _gitauth submodule update --init $_recursive $_sdepth ${GIT_SUBMODULE_UPDATE_FLAGS:-} -- ${GIT_SUBMODULE_PATHS:-}
                if [ "$_clean" != none ]; then _git submodule foreach $_recursive "git clean $_clean -q"; fi
                set +f
                if [ -n "$_has_lfs" ]; then _gitauth submodule foreach $_recursive "git lfs pull"; fi
              fi
            else
              echo "Skipping Git checkout"
            fi

            """);
        body.Append(")\n");
        if (!string.IsNullOrWhiteSpace(runner.PostGetSourcesScript))
        {
            body.Append("cd \"$CI_PROJECT_DIR\"\n").Append(CommandsBody([runner.PostGetSourcesScript]));
        }

        return body.ToString();
    }

    // clean_git_config, as GitLab Runner: before the fetch, the checkout's .git/config and hooks go (and its submodules', for
    // the normal and recursive strategies), so nothing an earlier job wrote there (core.hooksPath, a hook, an alias) runs in
    // this one. Unset, it follows GIT_STRATEGY: on unless none.
    private static string CleanGitConfigBody(RunnerEntry runner)
    {
        var condition = runner.CleanGitConfig switch
        {
            true => "true",
            false => "false",
            null => "[ \"$_strategy\" != none ]",
        };
        return $$"""
            if {{condition}} && [ -d "$CI_PROJECT_DIR/.git" ]; then
              rm -f "$CI_PROJECT_DIR/.git/config"
              rm -rf "$CI_PROJECT_DIR/.git/hooks"
              case "${GIT_SUBMODULE_STRATEGY:-none}" in
                normal|recursive)
                  if [ -d "$CI_PROJECT_DIR/.git/modules" ]; then
                    find "$CI_PROJECT_DIR/.git/modules" -name config -type f -exec rm -f {} +
                    find "$CI_PROJECT_DIR/.git/modules" -depth -name hooks -type d -exec rm -rf {} +
                  fi ;;
              esac
            fi

            """;
    }

    /// <summary>The repository URL without user info, and the user the job token is sent as (null: no credentials). With
    /// <c>clone_url</c> (http or https) as GitLab Runner: <c>&lt;clone_url&gt;/&lt;project path&gt;.git</c> as gitlab-ci-token.</summary>
    internal static (string PlainUrl, string? User) RepositoryUrl(JobPayload job, RunnerEntry runner)
    {
        var cloneUrl = runner.CloneUrl?.Trim().TrimEnd('/');
        if (!string.IsNullOrEmpty(cloneUrl) && cloneUrl.StartsWith("http", StringComparison.Ordinal) && job.JobInfo.ProjectFullPath.Length > 0)
        {
            var (plain, _) = SplitCredentials(cloneUrl);
            return (plain + "/" + job.JobInfo.ProjectFullPath + ".git", "gitlab-ci-token");
        }

        return SplitCredentials(job.GitInfo.RepoUrl);
    }

    /// <summary>A git credential helper (a shell function, as <c>credential.helper=!…</c> takes it) that answers <c>get</c>
    /// with <paramref name="user"/> and the job token read from the job Secret's file.</summary>
    internal static string CredentialHelper(string user) =>
        "!f() { test \"$1\" = get || exit 0; printf 'username=%s\\n' " + ShellText.Quote(user) + "; printf 'password=%s\\n' \"$(cat "
        + ShellText.Quote(TokenFile) + ")\"; }; f";

    /// <summary>scheme://host[:port] of a URL that has a scheme.</summary>
    private static string Origin(string url)
    {
        var (scheme, rest) = SplitScheme(url);
        var slash = rest.IndexOf('/');
        return scheme + (slash < 0 ? rest : rest[..slash]);
    }

    /// <summary>The URL without its user info, and the user name when it had one (the password is the job token).</summary>
    internal static (string PlainUrl, string? User) SplitCredentials(string url)
    {
        var (scheme, rest) = SplitScheme(url);
        var slash = rest.IndexOf('/');
        var authority = slash < 0 ? rest : rest[..slash];
        var at = authority.LastIndexOf('@');
        if (scheme.Length == 0 || at < 0)
        {
            return (url, null);
        }

        var userInfo = authority[..at];
        var colon = userInfo.IndexOf(':');
        var user = colon < 0 ? userInfo : userInfo[..colon];
        return (scheme + rest[(at + 1)..], user.Length > 0 ? user : "gitlab-ci-token");
    }

    private static (string Scheme, string Remainder) SplitScheme(string url)
    {
        var index = url.IndexOf("://", StringComparison.Ordinal);
        return index < 0 ? ("", url) : (url[..(index + 3)], url[(index + 3)..]);
    }

    // GitLab Runner's restore: the main key, then each fallback key while extraction fails; a failed extraction is a
    // warning, never a failed job. With a distributed cache the helper first downloads the archive from its pre-signed URL
    // (read from the job Secret; a missing object is "no cache").
    private static string RestoreCacheBody(IEnumerable<(JobCache Cache, int Index)> caches, ScriptContext context)
    {
        var body = new StringBuilder();
        foreach (var (cache, _) in caches)
        {
            var warnings = new List<string>();
            var (key, warning) = context.CacheKey(cache);
            if (warning is not null)
            {
                warnings.Add(warning);
            }

            if (key is null)
            {
                AppendWarnings(body, warnings);
                body.Append("echo 'Skipping cache extraction due to empty cache key'\n");
                continue;
            }

            var keys = new List<string> { key };
            keys.AddRange(context.CacheFallbackKeys(cache, warnings));
            var attempts = keys.Select(k => (Key: k, Command: context.Helper("cache-extractor",
                [.. UrlArgs(context.CacheUrlFile(k, upload: false, warnings), context), "--file", CacheFile(context.Job, context.Options.CacheDir, k)]))).ToList();
            AppendWarnings(body, warnings);
            AppendExtract(body, attempts, 0, "");
        }

        return body.ToString();
    }

    private static void AppendExtract(StringBuilder body, IReadOnlyList<(string Key, string Command)> attempts, int index, string indent)
    {
        var (key, command) = attempts[index];
        body.Append(indent).Append("printf 'Checking cache for %s...\\n' ").Append(ShellText.Quote(key)).Append('\n');
        body.Append(indent).Append("if ").Append(command).Append("; then\n");
        body.Append(indent).Append("  echo \"Successfully extracted cache\"\n");
        body.Append(indent).Append("else\n");
        body.Append(indent).Append("  echo \"WARNING: Failed to extract cache\"\n");
        if (index + 1 < attempts.Count)
        {
            AppendExtract(body, attempts, index + 1, indent + "  ");
        }

        body.Append(indent).Append("fi\n");
    }

    private static string ArchiveCacheBody(IEnumerable<(JobCache Cache, int Index)> caches, ScriptContext context)
    {
        var body = new StringBuilder();
        foreach (var (cache, _) in caches)
        {
            var warnings = new List<string>();
            var (key, warning) = context.CacheKey(cache);
            if (warning is not null)
            {
                warnings.Add(warning);
            }

            if (key is null)
            {
                AppendWarnings(body, warnings);
                body.Append("echo 'Skipping cache archiving due to empty cache key'\n");
                continue;
            }

            var args = new List<string> { "--file", CacheFile(context.Job, context.Options.CacheDir, key) };
            foreach (var path in cache.Paths)
            {
                args.Add("--path");
                args.Add(context.ExpandPublic(path));
            }

            if (cache.Untracked)
            {
                args.Add("--untracked");
            }

            if (context.CacheUrlFile(key, upload: true, warnings) is { } urlFile)
            {
                args.AddRange(UrlArgs(urlFile, context));
                if (context.MaxUploadedArchiveSize > 0)
                {
                    args.AddRange(["--max-uploaded-archive-size", context.MaxUploadedArchiveSize.ToString(CultureInfo.InvariantCulture)]);
                }
            }

            AppendWarnings(body, warnings);
            body.Append("printf 'Creating cache %s...\\n' ").Append(ShellText.Quote(key)).Append('\n');
            body.Append("if ").Append(context.Helper("cache-archiver", [.. args]))
                .Append("; then echo \"Created cache\"; else echo \"WARNING: Failed to create cache\"; fi\n");
        }

        return body.ToString();
    }

    private static string[] UrlArgs(string? urlFile, ScriptContext context) =>
        urlFile is null ? [] : ["--url-file", urlFile, "--timeout", context.CacheRequestTimeout];

    private static void AppendWarnings(StringBuilder body, IEnumerable<string> warnings)
    {
        // One signing failure concerns every key of the cache: say it once.
        foreach (var warning in warnings.Distinct(StringComparer.Ordinal))
        {
            body.Append("echo ").Append(ShellText.Quote("WARNING: " + warning)).Append('\n');
        }
    }

    // GitLab Runner's downloader: one call per dependency that has an archive, extracted into the project directory (the
    // stage's working directory). GitLab authenticates the running job's token for its dependencies ("via dependent
    // job"), so the job token's file serves every download and the dependencies' tokens never reach the pod.
    // ARTIFACT_DOWNLOAD_ATTEMPTS (1 to 10, default 1) as GitLab Runner: here each dependency's download is tried that often.
    private static string DownloadArtifactsBody(IEnumerable<JobDependency> dependencies, ScriptContext context, string gitLabUrl)
    {
        var body = new StringBuilder("""
            _attempts="${ARTIFACT_DOWNLOAD_ATTEMPTS:-1}"
            case "$_attempts" in
              [1-9]|10) ;;
              *) echo "ERROR: ARTIFACT_DOWNLOAD_ATTEMPTS=$_attempts: the number of attempts must be between 1 and 10"; exit 1 ;;
            esac

            """);
        foreach (var dependency in dependencies)
        {
            var id = dependency.Id.ToString(CultureInfo.InvariantCulture);
            body.Append("printf 'Downloading artifacts for %s (%s)...\\n' ").Append(ShellText.Quote(dependency.Name)).Append(' ').Append(id).Append('\n');
            body.Append("_n=1\nuntil ").Append(context.Helper("artifacts-downloader", "--url", gitLabUrl, "--id", id, "--token-file", TokenFile,
                "--output", DependenciesDir + "/" + id + ".zip", "--extract-to", ".")).Append("; do\n");
            body.Append("  _r=$?; [ \"$_n\" -lt \"$_attempts\" ] || exit \"$_r\"; _n=$((_n + 1)); echo \"Retrying (attempt $_n of $_attempts)...\"\n");
            body.Append("done\n");
        }

        return body.ToString();
    }

    // GitLab Runner's uploader: one archive and one upload per artifacts entry, in the entry's format (zip; gzip for most
    // reports, junit and dotenv among them; raw for a single file), with its type, name and expire_in as query parameters.
    private static string ArtifactsBody(IEnumerable<(JobArtifact Artifact, int Index)> artifacts, ScriptContext context, List<string> archives,
        string? gitLabUrl)
    {
        var body = new StringBuilder();
        foreach (var (artifact, index) in artifacts)
        {
            var format = string.IsNullOrEmpty(artifact.Format) ? "zip" : artifact.Format;
            if (format is not ("zip" or "gzip" or "raw"))
            {
                body.Append("echo ").Append(ShellText.Quote(
                    $"WARNING: artifacts \"{artifact.Name}\" in format {format}: only zip, gzip and raw are made; not uploaded")).Append('\n');
                continue;
            }

            var output = ArtifactsDir + "/" + index.ToString(CultureInfo.InvariantCulture) + format switch { "gzip" => ".gz", "raw" => ".raw", _ => ".zip" };
            archives.Add(output);
            var args = new List<string> { "--output", output };
            foreach (var path in artifact.Paths)
            {
                args.Add("--path");
                args.Add(context.ExpandPublic(path));
            }

            foreach (var path in artifact.Exclude)
            {
                args.Add("--exclude");
                args.Add(context.ExpandPublic(path));
            }

            if (artifact.Untracked)
            {
                args.Add("--untracked");
            }

            if (format != "zip")
            {
                args.AddRange(["--format", format]);
            }

            body.Append(context.Helper("artifacts-archiver", [.. args])).Append('\n');
            if (gitLabUrl is not null)
            {
                List<string> upload =
                [
                    "--url", gitLabUrl, "--id", context.Job.Id.ToString(CultureInfo.InvariantCulture), "--token-file", TokenFile,
                    "--file", output, "--name", context.ExpandPublic(artifact.Name), "--format", format,
                    "--type", string.IsNullOrEmpty(artifact.Type) ? "archive" : artifact.Type,
                ];
                if (!string.IsNullOrEmpty(artifact.ExpireIn))
                {
                    upload.AddRange(["--expire-in", artifact.ExpireIn]);
                }

                // No archive when nothing matched: the archiver said so, and there is nothing to send.
                body.Append("if [ -f ").Append(ShellText.Quote(output)).Append(" ]; then ").Append(context.Helper("artifacts-uploader", [.. upload]))
                    .Append("; fi\n");
            }
        }

        return body.ToString();
    }
}
