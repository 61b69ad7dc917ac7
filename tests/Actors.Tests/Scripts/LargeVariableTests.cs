using Scheduler.Actors.Pods;
using Scheduler.Actors.Scripts;
using Scheduler.Messages.Jobs;

namespace Scheduler.Actors.Tests.Scripts;

/// <summary>A variable longer than one environment entry may be (128 KiB, execve's E2BIG) is kept out of the container env
/// and not exported, so the container and the commands the job runs still start; the job's shell has it.</summary>
public sealed class LargeVariableTests
{
    private static readonly string Large = new('x', 170 * 1024);

    private static JobPayload Job(IReadOnlyList<JobVariable> variables, string command) =>
        TestData.Job(variables: variables) with { Steps = [new JobStep { Name = "script", Script = [command] }] };

    [Theory]
    [InlineData("K", 131_069, true)] // "K=" + value + NUL is exactly 128 KiB
    [InlineData("K", 131_070, false)]
    [InlineData("LONGER_NAME", 131_059, true)]
    [InlineData("LONGER_NAME", 131_060, false)]
    public void The_limit_counts_name_equals_value_and_nul(string key, int length, bool fits)
    {
        Assert.Equal(fits, EnvironmentLimit.Fits(key, new string('v', length)));
    }

    [Fact]
    public void A_multibyte_value_is_measured_in_bytes()
    {
        // 50 000 three-byte characters are 150 000 bytes.
        Assert.False(EnvironmentLimit.Fits("K", new string('€', 50_000)));
    }

    [Fact]
    public void A_large_public_variable_is_not_in_the_container_env_but_in_the_job_secret_script()
    {
        var job = Job([TestData.Public("BIG", Large), TestData.Public("SMALL", "s")], "true");

        using var pod = new PodSandbox(job);

        var env = pod.PodPlan.Pod.Spec.Containers[0].Env!.Select(e => e.Name).ToList();
        Assert.Contains("SMALL", env);
        Assert.DoesNotContain("BIG", env);
        Assert.Contains("BIG=", pod.Plan.VariablesScript, StringComparison.Ordinal);
        Assert.DoesNotContain("export BIG=", pod.Plan.VariablesScript, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void The_script_sees_the_whole_value_and_starts_commands(bool masked)
    {
        var variable = masked ? TestData.Masked("BIG", Large) : TestData.Public("BIG", Large);
        // `env` is a program the shell execs: with BIG exported it could not start (E2BIG).
        var job = Job([variable], "echo \"length ${#BIG}\"; env | grep -c '^BIG=' || true; /bin/echo started");

        using var pod = new PodSandbox(job);
        var (code, output) = pod.RunStage("step_script");

        Assert.True(code == 0, output);
        Assert.Contains($"length {Large.Length}\n0\nstarted\n", output, StringComparison.Ordinal);
        Assert.Contains("Variable BIG (174080 bytes) is longer than the 128 KiB an environment entry may be", output, StringComparison.Ordinal);
        Assert.DoesNotContain(Large[..64], output, StringComparison.Ordinal);
    }

    [Fact]
    public void A_runner_environment_value_of_the_same_name_is_not_exported_either()
    {
        var runner = TestData.Runner(environment: ["BIG=from-runner"]);
        var job = Job([TestData.Public("BIG", Large)], "echo \"length ${#BIG}\"; env | grep -c '^BIG=' || true");

        using var pod = new PodSandbox(job, runner);
        var (code, output) = pod.RunStage("step_script");

        Assert.True(code == 0, output);
        Assert.Contains($"length {Large.Length}\n0\n", output, StringComparison.Ordinal);
    }

    [Fact]
    public void Variables_that_fit_are_exported_as_before()
    {
        var job = Job([TestData.Public("SMALL", "s"), TestData.Masked("SECRET", "hidden-value")], "env | grep -c '^SMALL=s$'; env | grep -c '^SECRET='");

        using var pod = new PodSandbox(job);
        var (code, output) = pod.RunStage("step_script");

        Assert.True(code == 0, output);
        Assert.Contains("1\n1\n", output, StringComparison.Ordinal);
        Assert.DoesNotContain("environment entry", output, StringComparison.Ordinal);
    }
}
