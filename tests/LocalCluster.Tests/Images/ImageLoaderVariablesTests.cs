using System.Text;
using k8s.Models;
using Scheduler.LocalCluster.Runtime;
using Scheduler.LocalCluster.Tests.Runtime;
using static Scheduler.LocalCluster.Tests.Runtime.PodBuilder;

namespace Scheduler.LocalCluster.Tests.Images;

/// <summary>
/// Attack: a container in its image sets loader variables; unshare, sh, mount and setpriv run as root on the host before
/// its user takes over, and must not read them (no root-owned dbg.* file), while its command and its execs get them all.
/// </summary>
[Collection(RegistryCollection.Name)]
public sealed class ImageLoaderVariablesTests(TestRegistry registry) : IAsyncLifetime
{
    private readonly string _stateDir = Path.Combine(Path.GetTempPath(), "image-loader-env-tests-" + Guid.NewGuid().ToString("N"));
    private readonly string _debugDir = Directory.CreateTempSubdirectory("image-loader-env-debug-").FullName;
    private readonly FakePodHost _host = new();
    private ProcessPodRuntime _runtime = null!;

    public Task InitializeAsync()
    {
        FileOwnership.SetMode(_debugDir, (UnixFileMode)0b1_111_111_111);
        _runtime = new ProcessPodRuntime(new NodeSettings { StateDir = _stateDir, UseImages = true }, _host, SandboxKind.Bubblewrap);
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        await _runtime.DisposeAsync();
        Directory.Delete(_stateDir, recursive: true);
        Directory.Delete(_debugDir, recursive: true);
    }

    [Fact]
    public async Task No_root_program_before_a_container_in_its_image_sees_its_loader_variables_and_its_command_and_execs_see_them_all()
    {
        Assert.True(_runtime.ExecsUseJoinProgram, "the join program was not built: is clang installed?");
        var variables = LoaderVariableIsolationTests.LoaderVariables(_debugDir);
        // Image B runs as its user app (1000).
        var container = new V1Container { Name = "main", Image = registry.ImageB, Command = ["sh", "-c", "env; exec sleep 4848.5"] };
        container.Env = LoaderVariableIsolationTests.EnvOf(variables);
        _runtime.PodCreated(Pod("image-loader", container));
        await _host.WaitForStatusAsync("image-loader", s => s.Phase == "Running", timeoutSeconds: 60);
        var log = "";
        for (var i = 0; i < 200 && !log.Contains("PLAIN=", StringComparison.Ordinal); i++)
        {
            using var output = new MemoryStream();
            await _runtime.StreamLogAsync("ci", "image-loader", new PodLogOptions(), output, CancellationToken.None);
            log = Encoding.UTF8.GetString(output.ToArray());
            await Task.Delay(25);
        }

        using var stdout = new MemoryStream();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        var code = await _runtime.ExecAsync(new ExecRequest("ci", "image-loader", null, ["env"], false), new ExecStreams(null, stdout, null), timeout.Token);

        LoaderVariableIsolationTests.AssertEnvironment(variables, log, "the container in its image");
        Assert.Equal(0, code);
        LoaderVariableIsolationTests.AssertEnvironment(variables, Encoding.UTF8.GetString(stdout.ToArray()), "an exec in the image");
        Assert.DoesNotContain(await LoaderVariableIsolationTests.DebugFileOwnersAsync(_debugDir), owner => owner.StartsWith("0 ", StringComparison.Ordinal));
    }

    [Fact]
    public async Task An_exec_through_nsenter_into_an_image_without_env_is_refused_with_the_reason_rather_than_losing_them()
    {
        // nsenter, as where the join program was not built.
        var runtime = new ProcessPodRuntime(new NodeSettings { StateDir = _stateDir + "-nsenter", UseImages = true }, _host,
            SandboxKind.Bubblewrap, joinProgram: Path.Combine(_stateDir, "no-such-dir", SandboxCommand.JoinProgramName));
        try
        {
            Assert.False(runtime.ExecsUseJoinProgram);
            var plain = new V1Container { Name = "main", Image = registry.ImageA, Command = ["sleep", "4949.5"] };
            runtime.PodCreated(Pod("pulled", plain));
            await _host.WaitForStatusAsync("pulled", s => s.Phase == "Running", timeoutSeconds: 60);
            // With its env program (which sets the deferred variables: PATH at least), an exec through nsenter runs.
            var withEnvProgram = await runtime.ExecAsync(new ExecRequest("ci", "pulled", null, ["true"], false), new ExecStreams(null, new MemoryStream(), null), CancellationToken.None);
            // The image's shared tree loses its env program: a container started from it now has none.
            var tree = Assert.Single(Directory.GetDirectories(Path.Combine(_stateDir + "-nsenter", "images", "rootfs")));
            File.Delete(Path.Combine(tree, "bin", "env"));
            var container = new V1Container { Name = "main", Image = registry.ImageA, Command = ["sleep", "4949.75"], Env = [new V1EnvVar { Name = "LD_DEBUG", Value = "libs" }] };
            runtime.PodCreated(Pod("no-env", container));
            await _host.WaitForStatusAsync("no-env", s => s.Phase == "Running", timeoutSeconds: 60);

            var refused = await Assert.ThrowsAsync<PodRuntimeException>(() =>
                runtime.ExecAsync(new ExecRequest("ci", "no-env", null, ["true"], false), new ExecStreams(null, new MemoryStream(), null), CancellationToken.None));

            Assert.Equal(400, refused.HttpStatus);
            Assert.Contains("no env program", refused.Message);
            Assert.Contains("LD_DEBUG", refused.Message);
            Assert.Equal(0, withEnvProgram);
        }
        finally
        {
            await runtime.DisposeAsync();
            Directory.Delete(_stateDir + "-nsenter", recursive: true);
        }
    }
}
