using System.Globalization;
using System.Text;
using Scheduler.Actors.Jobs;
using Scheduler.Messages.Jobs;
using Scheduler.Messages.Settings;

namespace Scheduler.Actors.Scripts;

/// <summary>The <c>get_sources</c> stage: fetch, checkout, submodules, LFS and the runner's checkout keys, as GitLab Runner does.</summary>
public static partial class JobScripts
{
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

        // With a post_get_sources_script the repository part runs in a subshell of its own: GIT_STRATEGY none leaves it
        // early, and the post script still runs, as in GitLab Runner. Without one, the stage's own subshell (the attempts
        // loop's) is enough: a process less.
        var postScript = !string.IsNullOrWhiteSpace(runner.PostGetSourcesScript);
        if (postScript)
        {
            body.Append("(\n");
        }
        if (plainUrl.StartsWith('/'))
        {
            // A local path (`scheduler exec`'s own repository, read from the host by a pod with a uid of its own): git serves
            // a repository to its owner only unless safe.directory says otherwise, which many gits (2.39 among them) read
            // only from the global or system config, never from -c; a global config of this subshell's own says it. It is a
            // file of the stage's in the run directory (an emptyDir that goes with the pod): no mktemp, nothing to remove. Only
            // its owner may write it (the run directory is every container's): a config can run commands (core.fsmonitor).
            body.Append("_gcfg=\"$_scheduler_tmp.gitconfig\" && (umask 077 && printf '[safe]\\n\\tdirectory = *\\n' > \"$_gcfg\") && export GIT_CONFIG_GLOBAL=\"$_gcfg\"\n");
        }
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
              clone) if [ -e "$CI_PROJECT_DIR" ] || [ -L "$CI_PROJECT_DIR" ]; then rm -rf "$CI_PROJECT_DIR"; fi ;;
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
            # So is the client certificate GitLab asks for (tls-cert-file, tls-key-file).
            if [ -n "${CI_SERVER_TLS_CERT_FILE:-}" ] && [ -n "${CI_SERVER_TLS_KEY_FILE:-}" ]; then
              export GIT_SSL_CERT="$CI_SERVER_TLS_CERT_FILE" GIT_SSL_KEY="$CI_SERVER_TLS_KEY_FILE"
            fi
            # LFS objects are pulled after the checkout (below), never by the checkout's smudge filter.
            _lfs_skip="${GIT_LFS_SKIP_SMUDGE:-}"
            export GIT_LFS_SKIP_SMUDGE=1
            case "$_depth" in ''|*[!0-9]*) _depth=0 ;; esac
            _fetch_flags="${GIT_FETCH_EXTRA_FLAGS:---prune --quiet}"
            if [ "$_fetch_flags" = none ]; then _fetch_flags=; fi
            if [ "$_depth" -gt 0 ]; then echo "Fetching changes with git depth set to $_depth..."; else echo "Fetching changes..."; fi
            # A repository made here has no origin to remove and nothing to pack: no `remote remove`, and no automatic
            # maintenance after its fetch (git runs `maintenance run --auto` after every fetch otherwise). git init makes
            # the directory and its parents itself, from no template: the sample hooks it would copy are never run, and
            # GitLab Runner gives init a template of its own as well.
            _fresh=
            _maint=
            if [ -d "$CI_PROJECT_DIR/.git" ]; then
              cd "$CI_PROJECT_DIR"
              echo "Reinitialized existing Git repository in $CI_PROJECT_DIR/.git/"
              _git remote remove origin >/dev/null 2>&1 || true
            else
              _git init -q --template= "$CI_PROJECT_DIR"
              cd "$CI_PROJECT_DIR"
              echo "Initialized empty Git repository in $CI_PROJECT_DIR/.git/"
              echo "Created fresh repository."
              _fresh=1
              _maint="-c maintenance.auto=false"
            fi

            """);
        var remoteAdd = "_git remote add origin " + ShellText.Quote(plainUrl);
        if (OriginConfig(plainUrl) is { } origin)
        {
            // In a repository made here, the origin is written as `git remote add` writes it: one git process less.
            body.Append("if [ -n \"$_fresh\" ]; then printf '%s\\n' ").Append(ShellText.Quote(origin)).Append(" >>.git/config; else ")
                .Append(remoteAdd).Append("; fi\n");
        }
        else
        {
            body.Append(remoteAdd).Append('\n');
        }
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
        body.Append("set -f\n_gitauth $_maint fetch $_fetch_flags \"$@\" \"$_url\" ").Append(ShellText.QuoteAll(refspecs)).Append("\nset +f\n");
        if (git.Sha.Length > 0)
        {
            // The commit may be outside the refspecs (a merge request ref): fetch it by id when it is not there yet. A small
            // fetch leaves its objects loose: when the commit's file is there, no git process needs to say so.
            body.Append(LooseObjectTest(git.Sha)).Append("_git cat-file -e ").Append(ShellText.Quote(git.Sha + "^{commit}"))
                .Append(" 2>/dev/null || _gitauth $_maint fetch -q \"$@\" \"$_url\" ").Append(ShellText.Quote(git.Sha)).Append('\n');
        }

        var target = git.Sha.Length > 0 ? git.Sha : "FETCH_HEAD";
        body.Append("if [ \"${GIT_CHECKOUT:-true}\" != false ]; then\n");
        body.Append("  printf 'Checking out %s as %s...\\n' ").Append(ShellText.Quote(shortSha)).Append(' ').Append(ShellText.Quote(git.Ref)).Append('\n');
        body.Append("  _git checkout -f -q ").Append(ShellText.Quote(target)).Append('\n');
        body.Append("""
              _clean="${GIT_CLEAN_FLAGS:--ffdx}"
              # clone emptied the directory: the checkout wrote tracked files only, so there is nothing to clean.
              if [ "$_clean" != none ] && [ "$_strategy" != clone ]; then set -f; _git clean $_clean -q; set +f; fi
              _has_lfs=
              if [ "$_lfs_skip" != 1 ]; then
                # git-lfs starts a dozen processes (it runs git itself) even where nothing is stored in LFS: the checkout's
                # objects are pulled only when one of its files has the lfs filter (the attr pathspec reads every attributes
                # source, macros included); submodules, which may have LFS objects of their own, still ask git-lfs.
                # One git process: ls-files with the attr pathspec magic lists the files whose filter is lfs. The job's
                # pathspec settings (GIT_LITERAL_PATHSPECS turns the magic off) are left out of it; a git that fails it
                # (older than 2.13) counts as a checkout with LFS files, so LFS is never skipped unasked.
                _lfs_files=$(unset GIT_LITERAL_PATHSPECS GIT_GLOB_PATHSPECS GIT_NOGLOB_PATHSPECS GIT_ICASE_PATHSPECS
                  _git ls-files -- ':(attr:filter=lfs)' 2>/dev/null) || _lfs_files=1
                if [ -n "$_lfs_files" ] || [ "$_submodules" != none ]; then
                  if _git lfs version >/dev/null 2>&1; then
                    _has_lfs=1
                    if [ -n "$_lfs_files" ]; then _gitauth lfs pull; fi
                  else
                    echo "Skipping Git LFS objects: git-lfs is not installed in the helper image"
                  fi
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
        if (postScript)
        {
            body.Append(")\n");
            body.Append("cd \"$CI_PROJECT_DIR\"\n").Append(CommandsBody([runner.PostGetSourcesScript!]));
        }

        return body.ToString();
    }

    /// <summary>The <c>origin</c> section <c>git remote add origin &lt;url&gt;</c> writes to <c>.git/config</c>, the URL quoted
    /// as git's config syntax reads it back; null for a URL with a control character (left to git itself).</summary>
    internal static string? OriginConfig(string url) =>
        url.Any(char.IsControl)
            ? null
            : "[remote \"origin\"]\n\turl = \"" + url.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal)
              + "\"\n\tfetch = +refs/heads/*:refs/remotes/origin/*";

    // `[ -f .git/objects/<2>/<rest> ] || `: a commit id of 40 or 64 lower-case hex digits is looked for as a loose object;
    // anything else is left to git.
    internal static string LooseObjectTest(string sha) =>
        sha.Length is 40 or 64 && sha.All(c => c is (>= '0' and <= '9') or (>= 'a' and <= 'f'))
            ? "[ -f .git/objects/" + sha[..2] + "/" + sha[2..] + " ] || "
            : "";

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
}
