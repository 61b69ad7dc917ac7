using Scheduler.Actors.Jobs;
using Scheduler.Actors.Pods;
using Scheduler.Messages.Jobs;

namespace Scheduler.Actors.Tests.Pods;

public sealed class VariableExpanderTests
{
    private static readonly Dictionary<string, string> Values = new() { ["A"] = "alpha", ["B_2"] = "beta", ["EMPTY"] = "" };

    [Theory]
    [InlineData("plain", "plain")]
    [InlineData("$A", "alpha")]
    [InlineData("${A}", "alpha")]
    [InlineData("x-$A-y", "x-alpha-y")]
    [InlineData("$B_2$A", "betaalpha")]
    [InlineData("$UNKNOWN", "")]
    [InlineData("${UNKNOWN}", "")]
    [InlineData("$$", "$")]
    [InlineData("$$A", "$A")]
    [InlineData("cost: 5$", "cost: 5$")]
    [InlineData("$ A", "$ A")]
    [InlineData("$1 $* $# $@ $! $? $-", "      ")]
    [InlineData("${1}", "")]
    [InlineData("${}x", "x")]
    [InlineData("${A", "A")]
    [InlineData("$EMPTY.", ".")]
    [InlineData("$A.b", "alpha.b")]
    public void Expands_as_go_os_expand_with_gitlab_mapping(string input, string expected)
    {
        Assert.Equal(expected, VariableExpander.Expand(input, name => Values.GetValueOrDefault(name)));
    }

    [Fact]
    public void The_last_definition_of_a_variable_wins()
    {
        var lookup = new JobVariableLookup([TestData.Public("X", "first"), TestData.Public("X", "second")]);

        Assert.Equal("second", lookup.ExpandAll("$X"));
    }

    [Theory]
    [InlineData("$PUB", "visible", null)]
    [InlineData("$SECRET", "", "SECRET")]
    [InlineData("$MASKEDPUB-$PUB", "-visible", "MASKEDPUB")]
    [InlineData("$NOPE", "", null)]
    public void Showable_expansion_reports_hidden_references(string input, string expected, string? hidden)
    {
        var lookup = new JobVariableLookup([
            TestData.Public("PUB", "visible"),
            TestData.Hidden("SECRET", "s3cret"),
            new JobVariable { Key = "MASKEDPUB", Value = "m4sked", Public = true, Masked = true },
        ]);

        var value = lookup.ExpandShowable(input, out var reference);

        Assert.Equal(expected, value);
        Assert.Equal(hidden, reference);
    }
}
