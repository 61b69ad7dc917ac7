using System.Text.Json.Nodes;
using Scheduler.LocalCluster.Api;

namespace Scheduler.LocalCluster.Tests;

public sealed class TableViewTests
{
    [Theory]
    [InlineData(5, "5s")]
    [InlineData(119, "119s")]
    [InlineData(150, "2m30s")]
    [InlineData(600, "10m")]
    [InlineData(3 * 3600 + 60, "3h1m")]
    [InlineData(30 * 3600, "30h")]
    [InlineData(3 * 86400, "3d")]
    [InlineData(400 * 86400, "400d")]
    public void Age_reads_like_kubectl(int secondsAgo, string expected)
    {
        var now = DateTimeOffset.Parse("2026-06-01T12:00:00Z");
        Assert.Equal(expected, TableView.Age(now.AddSeconds(-secondsAgo).ToString("yyyy-MM-dd'T'HH:mm:ss'Z'"), now));
    }

    [Theory]
    [InlineData("""{"status":{"phase":"Pending"}}""", "Pending")]
    [InlineData("""{"status":{"phase":"Pending","containerStatuses":[{"state":{"waiting":{"reason":"ErrImagePull"}}}]}}""", "ErrImagePull")]
    [InlineData("""{"status":{"phase":"Succeeded","containerStatuses":[{"state":{"terminated":{"exitCode":0,"reason":"Completed"}}}]}}""", "Completed")]
    [InlineData("""{"status":{"phase":"Failed","containerStatuses":[{"state":{"terminated":{"exitCode":2}}}]}}""", "ExitCode:2")]
    [InlineData("""{"spec":{"initContainers":[{"name":"i"}]},"status":{"phase":"Pending","initContainerStatuses":[{"state":{"running":{}}}]}}""", "Init:0/1")]
    [InlineData("""{"metadata":{"deletionTimestamp":"2026-01-01T00:00:00Z"},"status":{"phase":"Running"}}""", "Terminating")]
    [InlineData("""{"status":{"phase":"Pending","reason":"Unschedulable"}}""", "Unschedulable")]
    public void Pod_status_column(string pod, string expected) =>
        Assert.Equal(expected, TableView.PodStatus(JsonNode.Parse(pod)!.AsObject()));
}
