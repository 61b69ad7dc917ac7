using Scheduler.LocalCluster.Runtime;

namespace Scheduler.LocalCluster.Tests.Runtime;

public sealed class SandboxJoinTests
{
    private static SandboxSpec Spec(string? workingDir = null, long? user = null) => new()
    {
        Hostname = "pod", Mounts = [], Command = ["sh", "-c", "echo hi"], WorkingDir = workingDir, RunAsUser = user,
    };

    [Fact]
    public void Exec_joins_the_containers_namespaces_in_its_working_directory() =>
        Assert.Equal(["nsenter", "--target", "4321", "--mount", "--pid", "--uts", "--", "/bin/sh", "-c", "cd \"$1\" || exit 1; shift; exec \"$@\"", "sh", "/work", "sh", "-c", "echo hi"],
            SandboxCommand.BuildJoin(4321, Spec("/work")));

    [Fact]
    public void With_wdns_nsenter_changes_directory_itself_and_no_shell_is_started() =>
        Assert.Equal(["nsenter", "--target", "4321", "--mount", "--pid", "--uts", "--wdns=/work", "--", "sh", "-c", "echo hi"],
            SandboxCommand.BuildJoin(4321, Spec("/work"), nsenterSetsWorkingDir: true));

    [Fact]
    public void Without_supplementary_groups_nsenter_changes_the_user_itself() =>
        Assert.Equal(["--wdns=/", "--setgid", "0", "--setuid", "1000", "--", "sh", "-c", "echo hi"],
            SandboxCommand.BuildJoin(7, Spec(user: 1000), nsenterSetsWorkingDir: true).Skip(6));

    [Fact]
    public void With_supplementary_groups_the_user_changes_with_setpriv_which_sets_them() =>
        Assert.Equal(["--wdns=/", "--", "setpriv", "--reuid", "1000", "--regid", "0", "--groups", "3000,4000", "--", "sh", "-c", "echo hi"],
            SandboxCommand.BuildJoin(7, Spec(user: 1000) with { SupplementalGroups = [3000, 4000] }, nsenterSetsWorkingDir: true).Skip(6));

    [Fact]
    public void Exec_runs_as_the_containers_user() =>
        Assert.Equal(["--setgid", "0", "--setuid", "1000", "--", "/bin/sh"],
            SandboxCommand.BuildJoin(7, Spec(user: 1000)).Skip(6).Take(6));

    [Theory]
    [InlineData("/var/run/scheduler/job", "/run/scheduler/job")]
    [InlineData("/builds", "/builds")]
    [InlineData("/a/rel/x", "/a/target/x")]
    [InlineData("/loop/x", "/loop/x")]
    [InlineData("/chain/x", "/run/x")]
    public void Mount_paths_follow_host_symlinks(string path, string expected)
    {
        var links = new Dictionary<string, string>
        {
            ["/var/run"] = "/run",
            ["/a/rel"] = "target",
            ["/chain"] = "/var/run",
            ["/loop"] = "/loop",
        };
        var resolved = SandboxCommand.ResolveLinks(path, p => links.GetValueOrDefault(p));
        // A link to itself stops after a bounded number of hops instead of looping.
        Assert.Equal(expected, resolved);
    }
}
