namespace Scheduler.Exec;

/// <summary>The built-in config of <c>scheduler exec</c> when no <c>--config</c> is given.</summary>
public static class ExecDefaults
{
    public const string RunnerName = "exec";

    /// <summary>Where caches persist between exec runs: mounted at /cache, GitLab Runner's cache_dir.</summary>
    public static string CacheDir()
    {
        var baseDir = Environment.GetEnvironmentVariable("XDG_CACHE_HOME") is { Length: > 0 } xdg
            ? xdg
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache");
        return Path.Combine(baseDir, "scheduler", "exec-cache");
    }

    /// <summary>
    /// One runner, one job at a time, a persistent /cache. A job without an image runs in the runner's own (helper) image,
    /// which the embedded cluster runs on this machine's filesystem, so that it needs no network and no registry.
    /// </summary>
    public static string ConfigToml(string cacheDir) => $$"""
        concurrent = 1
        check_interval = 3

        [[runners]]
        name = "{{RunnerName}}"
        url = "{{ExecJobPayloadBuilder.ServerUrl}}"
        token = "exec-local-runner"
        executor = "kubernetes"
        [runners.kubernetes]
        image = "{{Scheduler.Actors.Pods.PodBuilder.DefaultHelperImage(Scheduler.Messages.Jobs.RunnerIdentity.Current().Version)}}"
        namespace = "default"
        poll_interval = 1
        poll_timeout = 180
        [[runners.kubernetes.volumes.host_path]]
        name = "exec-cache"
        mount_path = "/cache"
        host_path = "{{cacheDir.Replace("\\", "\\\\").Replace("\"", "\\\"")}}"
        """;
}
