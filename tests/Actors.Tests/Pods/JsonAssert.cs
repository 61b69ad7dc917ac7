using System.Text.Json.Nodes;

namespace Scheduler.Actors.Tests.Pods;

/// <summary>Compares JSON documents by value (object key order does not matter, array order does).</summary>
internal static class JsonAssert
{
    public static void Equal(string expected, string actual)
    {
        var expectedNode = JsonNode.Parse(expected);
        var actualNode = JsonNode.Parse(actual);
        Assert.True(JsonNode.DeepEquals(expectedNode, actualNode),
            $"expected:\n{expectedNode?.ToJsonString()}\nactual:\n{actualNode?.ToJsonString()}");
    }
}
