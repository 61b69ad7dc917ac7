using Scheduler.Config;

namespace Scheduler.Scheduler.Tests.GitLab;

public sealed class ConfigWriterTests
{
    [Theory]
    [InlineData("plain", "\"plain\"")]
    [InlineData("with \"quotes\"", "\"with \\\"quotes\\\"\"")]
    [InlineData("back\\slash", "\"back\\\\slash\"")]
    [InlineData("two\nlines\ttab", "\"two\\nlines\\ttab\"")]
    [InlineData("bell\u0007", "\"bell\\u0007\"")]
    [InlineData("ünïcode", "\"ünïcode\"")]
    public void Quote_writes_a_toml_basic_string(string value, string expected)
    {
        Assert.Equal(expected, ConfigWriter.Quote(value));
    }

    [Theory]
    [InlineData(null, "concurrent = 1\ncheck_interval = 3\n\n[[runners]]\n")]
    [InlineData("", "[[runners]]\n")]
    [InlineData("concurrent = 2\n", "\n[[runners]]\n")]
    [InlineData("concurrent = 2", "\n\n[[runners]]\n")]
    public void Appended_text_starts_on_its_own_line(string? existing, string expectedStart)
    {
        var entry = new NewRunnerEntry("r", "https://gitlab.example.com", "tok");

        Assert.StartsWith(expectedStart, ConfigWriter.TextToAppend(existing, entry));
    }

    [Theory]
    [InlineData("plain")]
    [InlineData("quotes \" and \\ backslash")]
    [InlineData("line\nbreak")]
    [InlineData("# not a comment = [x]")]
    public void Any_name_round_trips_through_the_loader(string name)
    {
        var entry = new NewRunnerEntry(name, "https://gitlab.example.com", "tok-en\"x", 42, "ns", "img:1");
        var text = ConfigWriter.TextToAppend("concurrent = 3\n# my comment\n", entry);

        var loaded = ConfigLoader.LoadText("concurrent = 3\n# my comment\n" + text, "config.toml", new Dictionary<string, string>());

        Assert.Empty(loaded.Errors);
        Assert.Empty(loaded.Warnings);
        var runner = Assert.Single(loaded.Settings!.Runners);
        Assert.Equal((name, "tok-en\"x", "ns", "img:1"), (runner.Name, runner.Token, runner.Kubernetes.Namespace, runner.Kubernetes.Image));
        Assert.Contains("# id = 42\n", text);
    }

    [Fact]
    public void The_entry_never_prints_its_token()
    {
        Assert.DoesNotContain("s3cret", new NewRunnerEntry("r", "u", "s3cret").ToString());
    }
}
