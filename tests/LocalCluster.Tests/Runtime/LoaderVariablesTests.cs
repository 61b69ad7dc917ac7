using Scheduler.LocalCluster.Runtime;

namespace Scheduler.LocalCluster.Tests.Runtime;

/// <summary>
/// The loader variables of a container's environment (every LD_*, glibc's unsecure list) never reach a program that runs
/// as root before the container's user: the rule, the split, and where each sandbox and exec hands them to the command.
/// </summary>
public sealed class LoaderVariablesTests
{
    [Theory]
    [InlineData("LD_PRELOAD", true)]
    [InlineData("LD_AUDIT", true)]
    [InlineData("LD_LIBRARY_PATH", true)]
    [InlineData("LD_DEBUG_OUTPUT", true)]
    [InlineData("LD_ANYTHING_NEW", true)]
    [InlineData("GCONV_PATH", true)]
    [InlineData("GETCONF_DIR", true)]
    [InlineData("GLIBC_TUNABLES", true)]
    [InlineData("HOSTALIASES", true)]
    [InlineData("LOCALDOMAIN", true)]
    [InlineData("LOCPATH", true)]
    [InlineData("MALLOC_TRACE", true)]
    [InlineData("MALLOC_ARENA_MAX", true)]
    [InlineData("MALLOC_CHECK_", true)]
    [InlineData("NIS_PATH", true)]
    [InlineData("NLSPATH", true)]
    [InlineData("RESOLV_HOST_CONF", true)]
    [InlineData("RES_OPTIONS", true)]
    [InlineData("TMPDIR", true)]
    [InlineData("TZDIR", true)]
    // Names are case-sensitive, as the loader reads them; the rest of the environment is not the loader's.
    [InlineData("ld_preload", false)]
    [InlineData("LD", false)]
    [InlineData("OLD_PRELOAD", false)]
    // What else steers a root program before the container's user: its search path, a shell's imported functions and
    // options, locale and time-zone files, libmount's tables.
    [InlineData("PATH", true)]
    [InlineData("BASH_FUNC_mount%%", true)]
    [InlineData("SHELLOPTS", true)]
    [InlineData("BASH_ENV", true)]
    [InlineData("LANG", true)]
    [InlineData("LC_ALL", true)]
    [InlineData("LC_CTYPE", true)]
    [InlineData("TZ", true)]
    [InlineData("LIBMOUNT_FSTAB", true)]
    [InlineData("HOME", false)]
    [InlineData("PATHS", false)]
    [InlineData("CI_JOB_TOKEN", false)]
    [InlineData("MALLOC_SOMETHING", false)]
    public void A_deferred_variable_is_every_LD_one_glibcs_unsecure_list_the_search_path_shell_locale_and_libmount_ones(string name, bool loader) =>
        Assert.Equal(loader, LoaderVariables.IsLoaderVariable(name));

    [Fact]
    public void The_split_defers_loader_variables_and_the_reserved_prefix_in_name_order_and_keeps_the_rest()
    {
        var split = LoaderVariables.Split(new Dictionary<string, string>
        {
            ["PATH"] = "/bin", ["LD_PRELOAD"] = "/tmp/x.so", ["TZDIR"] = "", ["GCONV_PATH"] = "/g",
            ["SCHEDULER_DEFERRED_ENV_LD_AUDIT"] = "/a.so", ["SECRET"] = "s",
        });

        Assert.Equal(new Dictionary<string, string> { ["SECRET"] = "s" }, split.Safe);
        Assert.Equal(["GCONV_PATH=/g", "LD_PRELOAD=/tmp/x.so", "PATH=/bin", "SCHEDULER_DEFERRED_ENV_LD_AUDIT=/a.so", "TZDIR="],
            LoaderVariables.Assignments(split.Deferred));
    }

    [Fact]
    public void An_environment_without_loader_variables_is_not_copied()
    {
        var environment = new Dictionary<string, string> { ["HOME"] = "/", ["USER"] = "app" };

        var split = LoaderVariables.Split(environment);

        Assert.Same(environment, split.Safe);
        Assert.Empty(split.Deferred);
        Assert.Same(environment, LoaderVariables.ForJoinProgram(split));
    }

    [Fact]
    public void The_join_program_gets_each_deferred_variable_under_the_prefix_and_a_prefixed_one_prefixed_twice()
    {
        var split = LoaderVariables.Split(new Dictionary<string, string>
        {
            ["PATH"] = "/bin", ["LD_PRELOAD"] = "/tmp/x.so", ["SCHEDULER_DEFERRED_ENV_LD_AUDIT"] = "/a.so", ["TZDIR"] = "",
        });

        var environment = LoaderVariables.ForJoinProgram(split);

        Assert.Equal(new Dictionary<string, string>
        {
            ["SCHEDULER_DEFERRED_ENV_PATH"] = "/bin",
            ["SCHEDULER_DEFERRED_ENV_LD_PRELOAD"] = "/tmp/x.so",
            // The program strips one prefix: the command sees the container's own variable, not an LD_AUDIT.
            ["SCHEDULER_DEFERRED_ENV_SCHEDULER_DEFERRED_ENV_LD_AUDIT"] = "/a.so",
            ["SCHEDULER_DEFERRED_ENV_TZDIR"] = "",
        }, environment);
        Assert.DoesNotContain(environment.Keys, LoaderVariables.IsLoaderVariable);
    }

    // Where each sandbox and exec sets them: after the identity change, or in bubblewrap where it is no more privileged
    // than the command. Without any, argv is as it was (SandboxCommandTests, JoinProgramTests).

    private static readonly KeyValuePair<string, string>[] Deferred = [new("LD_PRELOAD", "/tmp/x y.so"), new("TZDIR", "")];

    private static SandboxSpec Spec(long? user = 1000, bool image = false, string? imageEnv = "/bin/env") => new()
    {
        Hostname = "job-1", Mounts = [], Command = ["echo", "hi"], RunAsUser = user, DeferredEnvironment = Deferred,
        Image = image ? new ImageRoot("/l", "/u", "/w", "/m", HasShell: false, EnvProgram: imageEnv) : null,
    };

    private const string Bwrap = "bwrap --dev-bind / / --proc /proc --unshare-pid --unshare-uts --hostname job-1 --die-with-parent --chdir /";

    public static TheoryData<string, SandboxKind, SandboxSpec, string> SandboxCases => new()
    {
        {
            "bubblewrap is root: env after setpriv", SandboxKind.Bubblewrap, Spec(),
            $"{Bwrap} -- setpriv --reuid 1000 --regid 0 --clear-groups -- /usr/bin/env LD_PRELOAD=/tmp/x y.so TZDIR= echo hi"
        },
        {
            "a root container: bubblewrap sets them, the command is root already", SandboxKind.Bubblewrap, Spec(user: null),
            $"{Bwrap} --setenv LD_PRELOAD /tmp/x y.so --setenv TZDIR  -- /bin/sh -c exec \"$@\" sh echo hi"
        },
        {
            "a command whose name has '=': a shell after env starts it, env would take it for an assignment", SandboxKind.Bubblewrap,
            Spec() with { Command = ["/opt/a=1/tool", "x"] },
            $"{Bwrap} -- setpriv --reuid 1000 --regid 0 --clear-groups -- /usr/bin/env LD_PRELOAD=/tmp/x y.so TZDIR= /bin/sh -c exec \"$@\" sh /opt/a=1/tool x"
        },
        {
            "unshare: env after setpriv", SandboxKind.Unshare, Spec(),
            "setpriv --reuid 1000 --regid 0 --clear-groups -- /usr/bin/env LD_PRELOAD=/tmp/x y.so TZDIR= echo hi"
        },
        {
            "unshare, a root container: env after the shell", SandboxKind.Unshare, Spec(user: null),
            "/bin/sh -c exec \"$@\" sh /usr/bin/env LD_PRELOAD=/tmp/x y.so TZDIR= echo hi"
        },
        {
            "an image: bubblewrap runs as the user after setpriv and sets them", SandboxKind.Bubblewrap, Spec(image: true),
            "setpriv --reuid 1000 --regid 0 --clear-groups -- bwrap --bind /mnt / --dev /dev --proc /proc --unshare-pid --unshare-uts"
            + " --hostname job-1 --die-with-parent --chdir / --setenv LD_PRELOAD /tmp/x y.so --setenv TZDIR  -- echo hi"
        },
    };

    [Theory]
    [MemberData(nameof(SandboxCases))]
    public void A_sandbox_sets_loader_variables_at_its_last_unprivileged_step(string rule, SandboxKind kind, SandboxSpec spec, string tail)
    {
        var argv = SandboxCommand.Build(kind, spec);

        var text = string.Join(" ", argv);
        Assert.True(text.EndsWith(tail, StringComparison.Ordinal), $"{rule}: {text}");
        // Before the step that sets them, no program is given them on its command line either.
        Assert.DoesNotContain("LD_PRELOAD", text[..^tail.Length]);
    }

    public static TheoryData<string, SandboxSpec, bool, string> JoinCases => new()
    {
        {
            "nsenter changes the user, the shell changes directory, env sets them", Spec(), false,
            "--setgid 0 --setuid 1000 -- /bin/sh -c cd \"$1\" || exit 1; shift; exec \"$@\" sh / /usr/bin/env LD_PRELOAD=/tmp/x y.so TZDIR= echo hi"
        },
        {
            "with --wdns", Spec(), true,
            "--wdns=/ --setgid 0 --setuid 1000 -- /usr/bin/env LD_PRELOAD=/tmp/x y.so TZDIR= echo hi"
        },
        {
            "supplementary groups: setpriv, then env", Spec() with { SupplementalGroups = [3000] }, true,
            "-- setpriv --reuid 1000 --regid 0 --groups 3000 -- /usr/bin/env LD_PRELOAD=/tmp/x y.so TZDIR= echo hi"
        },
        {
            "an image: its own env program", Spec(image: true), true,
            "--setgid 0 --setuid 1000 -- /bin/env LD_PRELOAD=/tmp/x y.so TZDIR= echo hi"
        },
    };

    [Theory]
    [MemberData(nameof(JoinCases))]
    public void An_exec_through_nsenter_sets_them_with_env_after_the_identity_change(string rule, SandboxSpec spec, bool wdns, string tail)
    {
        var text = string.Join(" ", SandboxCommand.BuildJoin(4321, spec, wdns));

        Assert.True(text.EndsWith(tail, StringComparison.Ordinal), $"{rule}: {text}");
        Assert.DoesNotContain("LD_PRELOAD", text[..^tail.Length]);
    }

    [Fact]
    public void An_exec_through_nsenter_into_an_image_without_env_is_refused_rather_than_dropping_them()
    {
        var refused = Assert.Throws<InvalidOperationException>(() => SandboxCommand.BuildJoin(4321, Spec(image: true, imageEnv: null)));

        Assert.Contains("no env program", refused.Message);
        Assert.Contains("LD_PRELOAD, TZDIR", refused.Message);
    }

    [Fact]
    public void Without_loader_variables_an_image_without_env_still_takes_execs_through_nsenter()
    {
        var argv = SandboxCommand.BuildJoin(4321, Spec(image: true, imageEnv: null) with { DeferredEnvironment = [] }, true);

        Assert.Equal("--setgid 0 --setuid 1000 -- echo hi", string.Join(" ", argv.Skip(7)));
    }

    [Fact]
    public void The_join_programs_argv_never_carries_them()
    {
        var argv = SandboxCommand.BuildJoinProgram("/opt/scheduler-join", new ContainerProcess(4321, 5), Spec());

        Assert.Equal(SandboxCommand.BuildJoinProgram("/opt/scheduler-join", new ContainerProcess(4321, 5), Spec() with { DeferredEnvironment = [] }), argv);
    }
}
