using System.CommandLine;
using Scheduler.Cli;
using Scheduler.LocalCluster;

namespace Scheduler.Scheduler.Tests.Cli;

public sealed class LocalClusterFaultFlagsTests
{
    /// <summary>The settings the flags make, and the errors, without starting a cluster.</summary>
    private static (FaultSettings Settings, List<string> Errors) Read(params string[] args)
    {
        var flags = new FaultFlags();
        var command = new Command("local-cluster");
        foreach (var option in flags.All)
        {
            command.Options.Add(option);
        }

        var parse = command.Parse(args);
        Assert.Empty(parse.Errors);
        var errors = new List<string>();
        return (flags.Read(parse, errors), errors);
    }

    /// <summary>The real command: bad flags stop it before any cluster starts.</summary>
    private static (int ExitCode, string Error) Invoke(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var exitCode = LocalClusterCommand.Create().Parse(args).Invoke(new InvocationConfiguration { Output = output, Error = error });
        return (exitCode, error.ToString());
    }

    [Fact]
    public void No_fault_flag_means_no_fault()
    {
        var (settings, errors) = Read();
        Assert.Empty(errors);
        Assert.Equal(FaultSettings.None, settings);
    }

    [Fact]
    public void Every_flag_lands_in_its_setting()
    {
        var (settings, errors) = Read(
            "--fault-server-errors", "0.1", "--fault-throttle", "5%", "--fault-retry-after", "3",
            "--fault-hang-rate", "0.02", "--fault-hang-for", "2m",
            "--fault-latency", "200ms", "--fault-watch-max-events", "7", "--fault-watch-max-duration", "30s",
            "--fault-exec-drop-after", "64KiB", "--fault-exec-drop-after-time", "2s",
            "--fault-log-drop-after", "1MiB", "--fault-log-drop-after-time", "1m30s", "--fault-seed", "7");

        Assert.Empty(errors);
        Assert.Equal(new FaultSettings
        {
            ServerErrorRate = 0.1,
            ThrottleRate = 0.05,
            RetryAfterSeconds = 3,
            HangRate = 0.02,
            HangFor = TimeSpan.FromMinutes(2),
            Latency = TimeSpan.FromMilliseconds(200),
            WatchMaxEvents = 7,
            WatchMaxDuration = TimeSpan.FromSeconds(30),
            ExecDropAfterBytes = 64 * 1024,
            ExecDropAfter = TimeSpan.FromSeconds(2),
            LogFollowDropAfterBytes = 1024 * 1024,
            LogFollowDropAfter = TimeSpan.FromSeconds(90),
            Seed = 7,
        }, settings);
    }

    [Theory]
    [InlineData("65536", 65536)]
    [InlineData("512B", 512)]
    [InlineData("64KiB", 65536)]
    [InlineData("64Ki", 65536)]
    [InlineData("1.5MiB", 1572864)]
    [InlineData("2GiB", 2147483648)]
    [InlineData("10KB", 10000)]
    [InlineData("3MB", 3000000)]
    public void Sizes_take_binary_and_decimal_units(string text, long bytes) =>
        Assert.Equal(bytes, FaultFlags.ParseSize(text, "--fault-exec-drop-after"));

    [Theory]
    [InlineData("0", 0)]
    [InlineData("200ms", 200)]
    [InlineData("2s", 2000)]
    [InlineData("1.5s", 1500)]
    [InlineData("1m", 60000)]
    [InlineData("1m30s", 90000)]
    [InlineData("1h", 3600000)]
    public void Durations_are_go_style(string text, double milliseconds) =>
        Assert.Equal(TimeSpan.FromMilliseconds(milliseconds), FaultFlags.ParseDuration(text, "--fault-latency"));

    [Theory]
    [InlineData("0.1", 0.1)]
    [InlineData("10%", 0.1)]
    [InlineData("0", 0)]
    [InlineData("1", 1)]
    [InlineData("100%", 1)]
    public void Rates_are_fractions_or_percentages(string text, double rate) =>
        Assert.Equal(rate, FaultFlags.ParseRate(text, "--fault-throttle"), 9);

    [Theory]
    [InlineData("--fault-latency", "200", "--fault-latency: \"200\" is not a duration", "the unit is missing")]
    [InlineData("--fault-latency", "2 s", "--fault-latency: \"2 s\" is not a duration", "200ms, 2s, 1m")]
    [InlineData("--fault-latency", "-1s", "--fault-latency: \"-1s\" is not a duration", "200ms, 2s, 1m")]
    [InlineData("--fault-watch-max-duration", "5d", "--fault-watch-max-duration: \"5d\" is not a duration", "ms, s, m or h")]
    [InlineData("--fault-watch-max-duration", "0", "--fault-watch-max-duration: must be longer than 0", "")]
    [InlineData("--fault-hang-for", "48h", "--fault-hang-for: \"48h\" is longer than a day", "")]
    [InlineData("--fault-exec-drop-after", "64XB", "--fault-exec-drop-after: \"64XB\" is not a size", "64KiB, 1MiB")]
    [InlineData("--fault-log-drop-after", "0", "--fault-log-drop-after: \"0\" is not a size", "")]
    [InlineData("--fault-log-drop-after", "KiB", "--fault-log-drop-after: \"KiB\" is not a size", "")]
    [InlineData("--fault-server-errors", "1.5", "--fault-server-errors: \"1.5\" is not between 0 and 1", "")]
    [InlineData("--fault-throttle", "lots", "--fault-throttle: \"lots\" is not a rate", "10%")]
    [InlineData("--fault-hang-rate", "-0.1", "--fault-hang-rate: \"-0.1\" is not a rate", "")]
    [InlineData("--fault-watch-max-events", "0", "--fault-watch-max-events: \"0\" is not a whole number from 1", "")]
    [InlineData("--fault-retry-after", "1.5", "--fault-retry-after: \"1.5\" is not a whole number from 0", "")]
    [InlineData("--fault-seed", "x", "--fault-seed: \"x\" is not a whole number", "")]
    public void A_bad_value_is_an_error_that_names_its_flag(string flag, string value, string start, string hint)
    {
        var (_, errors) = Read(flag, value);
        var error = Assert.Single(errors);
        Assert.StartsWith(start, error, StringComparison.Ordinal);
        Assert.Contains(hint, error, StringComparison.Ordinal);
    }

    [Fact]
    public void Rates_that_add_up_to_more_than_one_are_refused()
    {
        var (_, errors) = Read("--fault-server-errors", "0.5", "--fault-throttle", "40%", "--fault-hang-rate", "0.2");
        Assert.Equal(["--fault-server-errors, --fault-throttle and --fault-hang-rate add up to 1.1, more than 1"], errors);
    }

    [Fact]
    public void The_command_exits_2_with_every_bad_flag_on_its_own_line()
    {
        var (exitCode, error) = Invoke("--fault-latency", "200", "--fault-exec-drop-after", "lots", "--node-labels", "nolabel");

        Assert.Equal(2, exitCode);
        var lines = error.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.Equal(3, lines.Length);
        Assert.Contains(lines, l => l.StartsWith("scheduler local-cluster: --fault-latency: ", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("scheduler local-cluster: --fault-exec-drop-after: ", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("scheduler local-cluster: --node-labels: ", StringComparison.Ordinal));
    }

    [Fact]
    public void The_description_names_every_fault_that_is_on()
    {
        var (settings, _) = Read("--fault-server-errors", "10%", "--fault-hang-rate", "0.02", "--fault-hang-for", "90s",
            "--fault-exec-drop-after", "1KiB", "--fault-seed", "3");
        Assert.Equal("0.1 of requests answered 500, 0.02 held 90s then 504, execs dropped after 1024 bytes, seed 3",
            FaultFlags.Describe(settings));
        Assert.Equal("none", FaultFlags.Describe(FaultSettings.None));
    }
}
