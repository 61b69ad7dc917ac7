using Scheduler.Config;

namespace Scheduler.Scheduler.Tests.Config;

public sealed class ConfigRulesTests
{
    [Theory]
    [InlineData("1")]
    [InlineData("0")]
    [InlineData("500m")]
    [InlineData("1.5")]
    [InlineData("1Gi")]
    [InlineData("128Mi")]
    [InlineData("1e3")]
    [InlineData("+5")]
    [InlineData("2Ki")]
    [InlineData("-0")] // zero to the API server, as "." is
    [InlineData(".")]
    [InlineData("1.5Gi")]
    public void Valid_quantities_pass(string quantity) => Assert.Null(ConfigRules.QuantityError(quantity));

    [Theory]
    [InlineData("100j")]
    [InlineData("1.2.3")]
    [InlineData("abc")]
    [InlineData(" 1")]
    [InlineData("1 ")]
    [InlineData("1gi")]
    [InlineData("1kk")]
    [InlineData("1Ki1")]
    [InlineData("")]
    [InlineData("1e40")]
    [InlineData("-1")]
    [InlineData("-500m")]
    public void Invalid_quantities_fail(string quantity) =>
        Assert.StartsWith($"invalid quantity \"{quantity}\"", ConfigRules.QuantityError(quantity));

    [Theory]
    [InlineData("never", true)]
    [InlineData("if-not-present", true)]
    [InlineData("always", true)]
    [InlineData("Always", false)]
    [InlineData("IfNotPresent", false)]
    [InlineData("sometimes", false)]
    public void Pull_policies_are_gitlab_runners_three(string policy, bool valid) =>
        Assert.Equal(valid, ConfigRules.PullPolicyError(policy) is null);

    [Theory]
    [InlineData("", true)]
    [InlineData("NoSchedule", true)]
    [InlineData("PreferNoSchedule", true)]
    [InlineData("NoExecute", true)]
    [InlineData("noschedule", false)]
    [InlineData("Exists", false)]
    public void Toleration_effects(string effect, bool valid) =>
        Assert.Equal(valid, ConfigRules.TolerationEffectError(effect) is null);

    [Theory]
    [InlineData("", true)]
    [InlineData("Memory", true)]
    [InlineData("memory", false)]
    [InlineData("HugePages", false)]
    public void Empty_dir_media(string medium, bool valid) =>
        Assert.Equal(valid, ConfigRules.EmptyDirMediumError(medium) is null);

    [Theory]
    [InlineData("^ci-.*$", null)]
    [InlineData("(?i)^ci-[a-z]+$", null)]
    [InlineData("ci-(.*", "invalid regular expression")]
    [InlineData("[a-", "invalid regular expression")]
    [InlineData("^(a)\\1$", "NonBacktracking")]
    [InlineData("^(?=ci).*$", "NonBacktracking")]
    [InlineData("^(?<!x)ci$", "NonBacktracking")]
    [InlineData("^(?>ci)$", "NonBacktracking")]
    public void Overwrite_patterns_compile_with_the_linear_engine(string pattern, string? error)
    {
        var actual = ConfigRules.OverwritePatternError(pattern);
        if (error is null)
        {
            Assert.Null(actual);
        }
        else
        {
            Assert.Contains(error, actual);
        }
    }

    [Theory]
    [InlineData("ci-.*", "^ci-.*$")]
    [InlineData("^ci-.*", "^ci-.*$")]
    [InlineData("ci-.*$", "^ci-.*$")]
    [InlineData("a|b", "^(?:a|b)$")]
    [InlineData("ci\\$", "^ci\\$$")]
    [InlineData("^ci-.*$", null)]
    [InlineData("\\Aci\\z", null)]
    [InlineData("", null)]
    public void Unanchored_patterns_get_an_anchored_suggestion(string pattern, string? suggestion) =>
        Assert.Equal(suggestion, ConfigRules.AnchoredSuggestion(pattern));

    [Theory]
    [InlineData("cpu_limt", "cpu_limit")]
    [InlineData("CPU-LIMIT", "cpu_limit")]
    [InlineData("pollinterval", "poll_interval")]
    [InlineData("memroy_limit", "memory_limit")]
    [InlineData("completely_different", null)]
    [InlineData("lmt", null)]
    public void Close_keys_are_suggested(string key, string? expected) =>
        Assert.Equal(expected, KeySuggestions.Closest(key, ["cpu_limit", "memory_limit", "poll_interval", "limit"]));
}
