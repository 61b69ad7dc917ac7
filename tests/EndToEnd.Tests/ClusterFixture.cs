using System.Diagnostics;
using Scheduler.Exec;
using Scheduler.Hosting;
using Scheduler.LocalCluster;

namespace Scheduler.EndToEnd.Tests;

/// <summary>One embedded cluster (pods are sandboxed host processes) and one committed git repository for all the tests.</summary>
public sealed class ClusterFixture : IAsyncLifetime
{
    private readonly string _root = Directory.CreateTempSubdirectory("scheduler-e2e-").FullName;

    public LocalClusterServer Server { get; private set; } = null!;
    public GitRepositoryInfo Repository { get; private set; } = null!;

    /// <summary>A fresh directory under the fixture's root (hostPath volumes, artifacts).</summary>
    public string NewDirectory(string name)
    {
        var dir = Directory.CreateDirectory(Path.Combine(_root, $"{name}-{Guid.NewGuid():N}")).FullName;
        // Written by the job's pods, which run as a non-root user.
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(dir, (UnixFileMode)0x1FF);
        return dir;
    }

    public async Task InitializeAsync()
    {
        // The job's pods (a non-root user) clone the repository from here.
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(_root, (UnixFileMode)0x1ED);
        var repo = Directory.CreateDirectory(Path.Combine(_root, "project")).FullName;
        await File.WriteAllTextAsync(Path.Combine(repo, "hello.txt"), "hello from the repository\n");
        Git(repo, "init", "-q", "-b", "main");
        Git(repo, "add", "hello.txt");
        Git(repo, "commit", "-q", "-m", "Initial commit");
        var read = await GitRepository.ReadAsync(repo, CancellationToken.None);
        Repository = read.Info ?? throw new InvalidOperationException(read.Error);

        Server = await EmbeddedCluster.StartAsync(Path.Combine(_root, "cluster"), CancellationToken.None);
    }

    public async Task DisposeAsync()
    {
        await Server.DisposeAsync();
        try
        {
            Directory.Delete(_root, recursive: true);
        }
        catch (IOException)
        {
            // Best effort: a temp directory.
        }
        catch (UnauthorizedAccessException)
        {
            // Best effort: a temp directory.
        }
    }

    private static void Git(string dir, params string[] args)
    {
        var start = new ProcessStartInfo("git") { WorkingDirectory = dir, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in new[] { "-c", "user.name=e2e", "-c", "user.email=e2e@example.com" }.Concat(args))
        {
            start.ArgumentList.Add(arg);
        }
        using var process = Process.Start(start)!;
        process.WaitForExit();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"git {string.Join(' ', args)} failed: {process.StandardError.ReadToEnd()}");
        }
    }
}

[CollectionDefinition(Name)]
public sealed class ClusterCollection : ICollectionFixture<ClusterFixture>
{
    public const string Name = "embedded cluster";
}
