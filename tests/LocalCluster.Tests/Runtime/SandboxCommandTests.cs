using Scheduler.LocalCluster.Runtime;

namespace Scheduler.LocalCluster.Tests.Runtime;

public sealed class SandboxCommandTests
{
    private static SandboxSpec Spec(string? workingDir = null, long? user = null, long? group = null, bool root = true, params SandboxMount[] mounts) => new()
    {
        Hostname = "job-1",
        Mounts = mounts,
        Command = ["echo", "hi"],
        WorkingDir = workingDir,
        RunAsUser = user,
        RunAsGroup = group,
        RuntimeIsRoot = root,
    };

    private const string Prefix = "bwrap --dev-bind / / --proc /proc --unshare-pid --unshare-uts --hostname job-1 --die-with-parent";
    private const string Shim = "/bin/sh -c exec \"$@\" sh echo hi";

    public static TheoryData<SandboxSpec, string> BubblewrapCases => new()
    {
        { Spec(), $"{Prefix} --chdir / -- {Shim}" },
        { Spec("/builds/p"), $"{Prefix} --dir /builds/p --chdir /builds/p -- {Shim}" },
        {
            Spec(null, null, null, true, new SandboxMount("/n/v/repo", "/builds", false), new SandboxMount("/n/v/ca", "/etc/ca", true)),
            $"{Prefix} --bind /n/v/repo /builds --ro-bind /n/v/ca /etc/ca --chdir / -- {Shim}"
        },
        {
            // A parent mount comes first even when listed after its child.
            Spec(null, null, null, true, new SandboxMount("/n/child", "/builds/cache", false), new SandboxMount("/n/parent", "/builds", false)),
            $"{Prefix} --bind /n/parent /builds --bind /n/child /builds/cache --chdir / -- {Shim}"
        },
        // setpriv execs the command itself (127 and 126 as from a shell): no shell before it.
        { Spec(null, 1000), $"{Prefix} --chdir / -- setpriv --reuid 1000 --regid 0 --clear-groups -- echo hi" },
        { Spec(null, 1000, 2000), $"{Prefix} --chdir / -- setpriv --reuid 1000 --regid 2000 --clear-groups -- echo hi" },
        { Spec(null, 1000, 2000, false), $"{Prefix} --chdir / --unshare-user --uid 1000 --gid 2000 -- {Shim}" },
    };

    [Theory]
    [MemberData(nameof(BubblewrapCases))]
    public void Bubblewrap_argv(SandboxSpec spec, string expected)
    {
        Assert.Equal(expected, string.Join(" ", SandboxCommand.Build(SandboxKind.Bubblewrap, spec)));
    }

    [Fact]
    public void A_host_root_listing_is_rebuilt_entry_by_entry()
    {
        var spec = Spec() with
        {
            HostRoot = [new HostRootEntry("bin", "usr/bin"), new HostRootEntry("dev"), new HostRootEntry("etc"), new HostRootEntry("proc"), new HostRootEntry("usr")],
        };

        var argv = string.Join(" ", SandboxCommand.Build(SandboxKind.Bubblewrap, spec));

        Assert.Equal("bwrap --symlink usr/bin /bin --dev-bind /etc /etc --dev-bind /usr /usr --dev-bind /dev /dev --chmod 1777 / --proc /proc --unshare-pid"
            + $" --unshare-uts --hostname job-1 --die-with-parent --chdir / -- {Shim}", argv);
    }

    [Fact]
    public void Environment_never_travels_in_argv()
    {
        var argv = SandboxCommand.Build(SandboxKind.Bubblewrap, Spec("/w", 1, 1, true, new SandboxMount("/a", "/b", true)));

        Assert.DoesNotContain("--setenv", argv);
        Assert.DoesNotContain("--clearenv", argv);
    }

    [Theory]
    [InlineData(false, "mkdir -p '/builds'\nmount --bind '/n/repo' '/builds'\nmkdir")]
    [InlineData(true, "mkdir -p '/builds'\nmount --bind '/n/repo' '/builds'\nmount -o remount,bind,ro '/builds'\nmkdir")]
    public void Unshare_mounts_in_a_setup_script(bool readOnly, string expectedMounts)
    {
        var argv = SandboxCommand.Build(SandboxKind.Unshare, Spec("/builds/x", 1000, null, true, new SandboxMount("/n/repo", "/builds", readOnly)));

        Assert.Equal(["setpriv", "--pdeathsig", "KILL", "--", "unshare", "--mount", "--propagation", "private", "--uts", "--pid", "--fork", "--kill-child", "--mount-proc", "--", "/bin/sh", "-c"], argv.Take(16));
        var script = argv[16];
        Assert.StartsWith("set -e # sandbox setup\nhostname 'job-1'\n", script);
        Assert.Contains(expectedMounts, script);
        Assert.EndsWith("mkdir -p '/builds/x'\ncd '/builds/x'\nexec \"$@\"", script);
        Assert.Equal("sh setpriv --reuid 1000 --regid 0 --clear-groups -- echo hi", string.Join(" ", argv.Skip(17)));
    }

    [Theory]
    [InlineData("plain", "'plain'")]
    [InlineData("it's", "'it'\\''s'")]
    [InlineData("a b;$(x)", "'a b;$(x)'")]
    public void Quote_makes_one_shell_word(string word, string quoted) => Assert.Equal(quoted, SandboxCommand.Quote(word));

    [Theory]
    [InlineData(true, true, true, SandboxKind.Bubblewrap)]
    [InlineData(false, true, true, SandboxKind.Bubblewrap)]
    [InlineData(true, false, true, SandboxKind.Unshare)]
    [InlineData(false, false, true, SandboxKind.None)]
    [InlineData(true, false, false, SandboxKind.None)]
    public void Detect_prefers_bubblewrap(bool root, bool hasBwrap, bool hasUnshare, SandboxKind expected)
    {
        var files = new HashSet<string>();
        if (hasBwrap) files.Add("/usr/bin/bwrap");
        if (hasUnshare) files.UnionWith(["/usr/bin/unshare", "/usr/bin/setpriv"]);

        Assert.Equal(expected, SandboxCommand.Detect(root, files.Contains));
    }
}
