using System.Net;
using System.Text.Json.Nodes;

namespace Scheduler.LocalCluster.Tests;

/// <summary>Untrusted bodies never take the server down: they get a 4xx Status.</summary>
public sealed class MalformedInputTests
{
    [Theory]
    [InlineData("POST", "/api/v1/namespaces/default/pods", """{"metadata":{"name":5},"spec":{"containers":[{"name":"a","image":"b"}]}}""")]
    [InlineData("POST", "/api/v1/namespaces/default/pods", """{"metadata":"nope","spec":{"containers":[{"name":"a","image":"b"}]}}""")]
    [InlineData("POST", "/api/v1/namespaces/default/pods", """{"kind":7,"metadata":{"name":"x"}}""")]
    [InlineData("POST", "/api/v1/namespaces/default/pods", """{"metadata":{"name":"x"},"spec":{"containers":"all"}}""")]
    [InlineData("POST", "/api/v1/namespaces/default/pods", """{"metadata":{"name":"x"},"spec":{"containers":[{"name":"a","image":"b","resources":{"limits":{"cpu":{"x":1}}}}]}}""")]
    [InlineData("POST", "/api/v1/namespaces/default/pods", """[1,2,3]""")]
    [InlineData("POST", "/api/v1/namespaces/default/pods", """{"metadata":{"name":"x","namespace":"other"},"spec":{"containers":[{"name":"a","image":"b"}]}}""")]
    [InlineData("POST", "/api/v1/namespaces/default/secrets", """{"metadata":{"name":"s"},"data":{"k":"not base64!"}}""")]
    [InlineData("POST", "/api/v1/namespaces/default/configmaps", """{"apiVersion":"apps/v1","metadata":{"name":"c"}}""")]
    [InlineData("PATCH", "/api/v1/namespaces/default/configmaps/base", """[{"op":"add"}]""")]
    [InlineData("PATCH", "/api/v1/namespaces/default/configmaps/base", """[{"op":5,"path":"/x"}]""")]
    [InlineData("PATCH", "/api/v1/namespaces/default/configmaps/base", """{"metadata":{"resourceVersion":12}}""")]
    [InlineData("PATCH", "/api/v1/namespaces/default/configmaps/base", """{"metadata":{"name":"renamed"}}""")]
    [InlineData("PUT", "/api/v1/namespaces/default/configmaps/base", """{"metadata":{"name":"other"}}""")]
    [InlineData("DELETE", "/api/v1/namespaces/default/configmaps/base", """{"propagationPolicy":"Sideways"}""")]
    [InlineData("DELETE", "/api/v1/namespaces/default/configmaps/base", """{"preconditions":{"uid":"wrong"}}""")]
    [InlineData("GET", "/api/v1/namespaces/default/pods?watch=true&resourceVersion=abc", "")]
    [InlineData("GET", "/api/v1/namespaces/default/pods?dryRun=Some", "")]
    public async Task Malformed_requests_get_client_error_statuses(string method, string path, string body)
    {
        await using var cluster = await TestCluster.StartAsync();
        using var http = cluster.Http();
        await http.PostAsync("/api/v1/namespaces/default/configmaps",
            new StringContent("""{"metadata":{"name":"base"},"data":{"a":"1"}}""", null, "application/json"));

        var contentType = method == "PATCH" ? (body.StartsWith('[') ? "application/json-patch+json" : "application/merge-patch+json") : "application/json";
        using var request = new HttpRequestMessage(new HttpMethod(method), path)
        {
            Content = body.Length == 0 ? null : new StringContent(body, null, contentType),
        };
        var response = await http.SendAsync(request);
        var status = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;

        Assert.InRange((int)response.StatusCode, 400, 499);
        Assert.Equal("Status", (string?)status["kind"]);
        Assert.Equal((int)response.StatusCode, (int)status["code"]!);
        Assert.Equal("1", (await http.GetFromJsonNode("/api/v1/namespaces/default/configmaps/base"))["data"]!["a"]!.ToString());
    }
}

internal static class HttpClientJson
{
    public static async Task<JsonNode> GetFromJsonNode(this HttpClient http, string path) =>
        JsonNode.Parse(await http.GetStringAsync(path))!;
}
