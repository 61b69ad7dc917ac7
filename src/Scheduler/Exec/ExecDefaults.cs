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

    /// <summary>One runner, one job at a time, any image (the embedded cluster's images are the host), a persistent /cache.</summary>
    public static string ConfigToml(string cacheDir) => $$"""
        concurrent = 1
        check_interval = 3

        [[runners]]
        name = "{{RunnerName}}"
        url = "{{ExecJobPayloadBuilder.ServerUrl}}"
        token = "exec-local-runner"
        executor = "kubernetes"
        [runners.kubernetes]
        image = "alpine:latest"
        namespace = "default"
        poll_interval = 1
        poll_timeout = 180
        [[runners.kubernetes.volumes.host_path]]
        name = "exec-cache"
        mount_path = "/cache"
        host_path = "{{cacheDir.Replace("\\", "\\\\").Replace("\"", "\\\"")}}"
        """;
}
