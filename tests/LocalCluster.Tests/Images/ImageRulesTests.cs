using System.Text;
using k8s.Models;
using Scheduler.LocalCluster.Images;
using Scheduler.LocalCluster.Runtime;

namespace Scheduler.LocalCluster.Tests.Images;

/// <summary>The pure rules of images: names, Kubernetes' command/env/user rules, pull credentials, hosts file, where an image comes from.</summary>
public sealed class ImageRulesTests
{
    [Theory]
    [InlineData("alpine", "docker.io/library/alpine:latest", false)]
    [InlineData("alpine:3.20", "docker.io/library/alpine:3.20", false)]
    [InlineData("library/alpine:3.20", "docker.io/library/alpine:3.20", false)]
    [InlineData("gitlab/gitlab-runner", "docker.io/gitlab/gitlab-runner:latest", false)]
    [InlineData("index.docker.io/alpine", "docker.io/library/alpine:latest", false)]
    [InlineData("registry.example.com/team/app:1.0", "registry.example.com/team/app:1.0", false)]
    [InlineData("localhost:5000/app", "localhost:5000/app:latest", true)]
    [InlineData("127.0.0.1:5000/a/b:c", "127.0.0.1:5000/a/b:c", true)]
    [InlineData("[::1]:5000/app:1", "[::1]:5000/app:1", true)]
    [InlineData("localhost/app", "localhost/app:latest", true)]
    [InlineData("registry.example.com:5000/app", "registry.example.com:5000/app:latest", false)]
    [InlineData("alpine@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        "docker.io/library/alpine@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", false)]
    public void Names_get_Docker_Hub_library_and_latest_by_default(string image, string canonical, bool loopback)
    {
        var reference = ImageReference.Parse(image, out var error);

        Assert.Null(error);
        Assert.Equal(canonical, reference!.Canonical);
        Assert.Equal(loopback, reference.IsLoopbackRegistry);
    }

    [Theory]
    [InlineData("")]
    [InlineData(" alpine")]
    [InlineData("Alpine")]
    [InlineData("alpine:")]
    [InlineData("alpine:bad tag")]
    [InlineData("alpine@sha256:short")]
    [InlineData("a//b")]
    [InlineData("-alpine")]
    [InlineData("alpine;rm -rf /")]
    [InlineData("../../etc/passwd")]
    public void Names_that_are_not_references_are_refused(string image)
    {
        Assert.Null(ImageReference.Parse(image, out var error));
        Assert.StartsWith("invalid reference format", error);
    }

    [Fact]
    public void A_digest_wins_over_a_tag_for_skopeo_and_store_keys_are_safe_file_names()
    {
        var digest = "sha256:" + new string('a', 64);
        var reference = ImageReference.Parse($"reg.example/app:1@{digest}", out _)!;

        Assert.Equal($"docker://reg.example/app@{digest}", reference.SkopeoSource);
        Assert.Matches("^[a-z0-9-]+$", reference.StoreKey);
        Assert.NotEqual(ImageReference.Parse("reg.example/app:1", out _)!.StoreKey, reference.StoreKey);
    }

    private static readonly ImageConfig Image = new(["/entry"], ["cmd1", "cmd2"], ["A=1", "B=x=y", "broken"], "/w", "app");

    [Theory]
    [InlineData(null, null, "/entry cmd1 cmd2")]
    [InlineData(null, "a1 a2", "/entry a1 a2")]
    [InlineData("c1", null, "c1")]
    [InlineData("c1", "a1", "c1 a1")]
    public void Command_replaces_the_entrypoint_and_args_replace_the_cmd(string? command, string? args, string expected)
    {
        var argv = ImageRules.Command(command?.Split(' '), args?.Split(' '), Image);

        Assert.Equal(expected, string.Join(' ', argv));
    }

    [Fact]
    public void Image_env_comes_first_and_the_container_env_wins()
    {
        Assert.Equal(new Dictionary<string, string> { ["A"] = "1", ["B"] = "x=y" }, ImageRules.Environment(Image));
        var pod = new V1Pod { Metadata = new V1ObjectMeta { Name = "p" }, Spec = new V1PodSpec() };
        var container = new V1Container { Name = "c", Env = [new V1EnvVar { Name = "A", Value = "from-spec" }] };

        var env = ContainerEnvironment.Resolve(pod, container, new Runtime.FakePodHost(), null, ImageRules.Environment(Image)).Variables!;

        Assert.Equal("from-spec", env["A"]);
        Assert.Equal("x=y", env["B"]);
        Assert.Equal(ContainerEnvironment.DefaultPath, env["PATH"]);
    }

    private const string Passwd = "root:x:0:0::/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n";
    private const string Group = "root:x:0:\nstaff:x:50:\napp:x:1001:\n";

    [Theory]
    [InlineData(null, null, null, null)]
    [InlineData("1000", 1000L, 1001L, null)]
    [InlineData("4242", 4242L, 0L, null)]
    [InlineData("app", 1000L, 1001L, null)]
    [InlineData("app:staff", 1000L, 50L, null)]
    [InlineData("1000:7", 1000L, 7L, null)]
    [InlineData("nobody", null, null, "unable to find user nobody")]
    [InlineData("app:nogroup", null, null, "unable to find group nogroup")]
    public void User_is_looked_up_in_the_images_passwd_and_group(string? user, long? uid, long? gid, string? error)
    {
        var result = ImageRules.User(user, Passwd, Group);

        Assert.Equal((uid, gid), (result.Uid, result.Gid));
        if (error is null) Assert.Null(result.Error);
        else Assert.StartsWith(error, result.Error);
    }

    [Fact]
    public void Pull_secrets_merge_into_one_auth_file_and_malformed_ones_are_skipped()
    {
        V1Secret Secret(string key, string json) => new() { Data = new Dictionary<string, byte[]> { [key] = Encoding.UTF8.GetBytes(json) } };

        var auth = RegistryAuth.AuthFile([
            Secret(".dockerconfigjson", """{"auths":{"reg.example":{"auth":"Zmlyc3Q="}}}"""),
            Secret(".dockerconfigjson", "not json"),
            Secret(".dockercfg", """{"reg.example":{"auth":"c2Vjb25k"},"other.example":{"auth":"b3RoZXI="}}"""),
            Secret("unrelated", "{}"),
        ]);

        Assert.Equal("""{"auths":{"reg.example":{"auth":"Zmlyc3Q="},"other.example":{"auth":"b3RoZXI="}}}""", auth);
        Assert.Null(RegistryAuth.AuthFile([Secret(".dockerconfigjson", "[1]")]));
    }

    [Fact]
    public void The_pods_hosts_file_has_localhost_its_name_and_valid_host_aliases_only()
    {
        var pod = new V1Pod
        {
            Spec = new V1PodSpec
            {
                HostAliases =
                [
                    new V1HostAlias { Ip = "127.0.0.1", Hostnames = ["postgres", "db"] },
                    new V1HostAlias { Ip = "10.0.0.1\n1.2.3.4 evil", Hostnames = ["x"] },
                    new V1HostAlias { Ip = "10.0.0.2", Hostnames = ["bad name\nevil"] },
                ],
            },
        };
        var text = PodHostsFile.Render(pod, "job-pod");

        var lines = text.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Contains("127.0.0.1\tlocalhost", lines);
        Assert.Contains("127.0.0.1\tjob-pod", lines);
        Assert.Contains("127.0.0.1\tpostgres\tdb", lines);
        Assert.DoesNotContain(lines, line => line.Contains("evil"));
    }

    [Theory]
    [InlineData("scheduler:0.1.0", true, false, ImageSourceKind.Host)]
    [InlineData("scheduler", true, false, ImageSourceKind.Host)]
    [InlineData("docker.io/library/scheduler:1", true, false, ImageSourceKind.Store)]
    [InlineData("registry.example/scheduler:1", true, false, ImageSourceKind.Store)]
    [InlineData("alpine:3.20", true, false, ImageSourceKind.Store)]
    [InlineData("alpine:3.20", false, false, ImageSourceKind.Host)]
    [InlineData("Alpine", true, false, ImageSourceKind.Invalid)]
    [InlineData("registry.example/missing:1", true, true, ImageSourceKind.Missing)]
    public void Only_the_runners_own_image_or_host_images_run_on_the_host(string image, bool useImages, bool missing, ImageSourceKind expected)
    {
        var node = new NodeSettings { UseImages = useImages, MissingImages = missing ? ["registry.example/missing*"] : [] };

        var source = ImageSources.Decide(image, node);

        Assert.Equal(expected, source.Kind);
        if (expected == ImageSourceKind.Host) Assert.Contains("filesystem", source.Message);
    }

    [Fact]
    public void Skopeo_errors_read_as_kubelet_pull_errors()
    {
        const string logged = "time=\"2026-12-05T00:13:38Z\" level=fatal msg=\"initializing source docker://r/x:1: reading manifest 1 in r/x: manifest unknown: manifest unknown\"";

        Assert.Equal("not found: initializing source docker://r/x:1: reading manifest 1 in r/x: manifest unknown: manifest unknown", ImageStore.PullError(logged));
        Assert.StartsWith("pull access denied", ImageStore.PullError("msg=\"reading manifest: unauthorized: authentication required\""));
    }
}

/// <summary>The argv of a container in its image: the overlay and volumes as root in a private mount namespace, then the user, then bubblewrap.</summary>
public sealed class ImageSandboxCommandTests
{
    private static SandboxSpec Spec(long? uid) => new()
    {
        Hostname = "pod",
        Mounts = [new SandboxMount("/state/pods/u/vol", "/builds", false), new SandboxMount("/state/secret", "/var/run/secret", true)],
        Command = ["sh", "-c", "echo hi"],
        WorkingDir = "/work",
        RunAsUser = uid,
        RunAsGroup = uid,
        Image = new ImageRoot("/state/images/rootfs/abc", "/state/c/upper", "/state/c/work", "/state/c/merged", HasShell: true),
    };

    [Fact]
    public void Volumes_are_bound_by_root_before_the_user_changes_and_bubblewrap_only_enters_the_root()
    {
        var argv = SandboxCommand.Build(SandboxKind.Bubblewrap, Spec(1000));

        Assert.Equal(["unshare", "--mount", "--propagation", "private", "--", "/bin/sh", "-c"], argv.Take(7));
        var script = argv[7];
        Assert.Contains("mount -t overlay overlay -o \"lowerdir=$1,upperdir=$2,workdir=$3\" \"$4\"", script);
        Assert.Contains("mount --bind '/state/pods/u/vol' './builds'", script);
        Assert.Contains("mount -o remount,bind,ro './var/run/secret'", script);
        Assert.Contains("mount --rbind \"$4\" '/mnt'", script);
        var setpriv = argv.ToList().IndexOf("setpriv");
        var bwrap = argv.ToList().IndexOf("bwrap");
        Assert.True(setpriv > 7 && bwrap > setpriv, string.Join(' ', argv));
        Assert.Equal(["bwrap", "--bind", "/mnt", "/"], argv.Skip(bwrap).Take(4));
        Assert.DoesNotContain("/state/pods/u/vol", argv.Skip(bwrap));
        Assert.Equal(["--chdir", "/work", "--", "/bin/sh", "-c", "exec \"$@\"", "sh", "sh", "-c", "echo hi"], argv.TakeLast(10));
    }

    [Fact]
    public void An_image_needs_bubblewrap_as_root_and_an_exec_changes_user_with_nsenter_not_setpriv()
    {
        Assert.Throws<InvalidOperationException>(() => SandboxCommand.Build(SandboxKind.Unshare, Spec(null)));
        Assert.Throws<InvalidOperationException>(() => SandboxCommand.Build(SandboxKind.Bubblewrap, Spec(null) with { RuntimeIsRoot = false }));
        Assert.Throws<InvalidOperationException>(() => SandboxCommand.Build(SandboxKind.Bubblewrap,
            Spec(null) with { Image = Spec(null).Image! with { Upper = "/state/a,lowerdir=/" } }));

        var join = SandboxCommand.BuildJoin(42, Spec(1000));

        Assert.Equal(["nsenter", "--target", "42", "--mount", "--pid", "--uts", "--setgid", "1000", "--setuid", "1000", "--"], join.Take(11));
        Assert.DoesNotContain("setpriv", join);
    }
}
