using System.Text.Json.Nodes;
using Scheduler.LocalCluster.Store;

namespace Scheduler.LocalCluster.Tests;

public sealed class SelectorAndPatchTests
{
    [Theory]
    [InlineData("a=1", "a=1,b=2", true)]
    [InlineData("a=2", "a=1,b=2", false)]
    [InlineData("a!=2", "a=1", true)]
    [InlineData("a!=2", "", true)]
    [InlineData("a in (1,3)", "a=1", true)]
    [InlineData("a in (2,3)", "a=1", false)]
    [InlineData("a notin (2,3)", "", true)]
    [InlineData("a,b", "a=1", false)]
    [InlineData("!c", "a=1", true)]
    [InlineData("a=1, !b", "a=1,b=2", false)]
    [InlineData("n>5", "n=7", true)]
    [InlineData("n<5", "n=7", false)]
    public void Label_selectors_match(string selector, string labels, bool expected)
    {
        var map = labels.Split(',', StringSplitOptions.RemoveEmptyEntries).Select(p => p.Split('=')).ToDictionary(p => p[0], p => p[1]);
        Assert.Equal(expected, LabelSelector.Parse(selector).Matches(map));
    }

    [Theory]
    [InlineData("a in (1")]
    [InlineData("a in 1")]
    [InlineData("a=1 b=2")]
    [InlineData("a=b c")]
    [InlineData("=1")]
    public void Bad_label_selectors_fail_to_parse(string selector) =>
        Assert.Throws<FormatException>(() => LabelSelector.Parse(selector));

    [Theory]
    [InlineData("""{"a":1,"b":{"c":2}}""", """{"b":{"c":null,"d":3}}""", """{"a":1,"b":{"d":3}}""")]
    [InlineData("""{"a":[1,2]}""", """{"a":[3]}""", """{"a":[3]}""")]
    [InlineData("""{"a":1}""", """{"a":{"x":1}}""", """{"a":{"x":1}}""")]
    public void Merge_patch(string target, string patch, string expected) =>
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse(expected), Patches.MergePatch(JsonNode.Parse(target), JsonNode.Parse(patch))));

    [Theory]
    [InlineData("""{"containers":[{"name":"a","image":"x"},{"name":"b","image":"y"}]}""",
        """{"containers":[{"name":"b","image":"z"}],"$setElementOrder/containers":[{"name":"a"},{"name":"b"}]}""",
        """{"containers":[{"name":"a","image":"x"},{"name":"b","image":"z"}]}""")]
    [InlineData("""{"containers":[{"name":"a","image":"x"},{"name":"b","image":"y"}]}""",
        """{"containers":[{"name":"a","$patch":"delete"}]}""",
        """{"containers":[{"name":"b","image":"y"}]}""")]
    [InlineData("""{"args":["1","2"]}""", """{"args":["3"]}""", """{"args":["3"]}""")]
    public void Strategic_merge_patch(string target, string patch, string expected) =>
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse(expected), Patches.StrategicMergePatch(JsonNode.Parse(target), JsonNode.Parse(patch))));

    [Theory]
    [InlineData("""{"a":{"b":1}}""", """[{"op":"add","path":"/a/c","value":2}]""", """{"a":{"b":1,"c":2}}""")]
    [InlineData("""{"a":[1,2]}""", """[{"op":"add","path":"/a/-","value":3}]""", """{"a":[1,2,3]}""")]
    [InlineData("""{"a":[1,2]}""", """[{"op":"remove","path":"/a/0"}]""", """{"a":[2]}""")]
    [InlineData("""{"a":1}""", """[{"op":"replace","path":"/a","value":5}]""", """{"a":5}""")]
    [InlineData("""{"a":1}""", """[{"op":"move","from":"/a","path":"/b"}]""", """{"b":1}""")]
    [InlineData("""{"a":{"x/y":1}}""", """[{"op":"copy","from":"/a/x~1y","path":"/c"}]""", """{"a":{"x/y":1},"c":1}""")]
    [InlineData("""{"a":1}""", """[{"op":"test","path":"/a","value":1},{"op":"add","path":"/b","value":2}]""", """{"a":1,"b":2}""")]
    public void Json_patch(string target, string patch, string expected) =>
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse(expected), Patches.JsonPatch(JsonNode.Parse(target), JsonNode.Parse(patch)!.AsArray())));

    [Theory]
    [InlineData("""[{"op":"remove","path":"/missing"}]""")]
    [InlineData("""[{"op":"test","path":"/a","value":2}]""")]
    [InlineData("""[{"op":"jump","path":"/a"}]""")]
    [InlineData("""[{"op":"add","path":"/a"}]""")]
    public void Bad_json_patches_fail(string patch) =>
        Assert.Throws<FormatException>(() => Patches.JsonPatch(JsonNode.Parse("""{"a":1}"""), JsonNode.Parse(patch)!.AsArray()));
}
