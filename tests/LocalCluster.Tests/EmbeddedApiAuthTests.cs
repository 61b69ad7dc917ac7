using System.Net;
using System.Net.Http.Headers;
using System.Net.WebSockets;
using System.Text;
using k8s;
using Scheduler.LocalCluster.Api;

namespace Scheduler.LocalCluster.Tests;

/// <summary>
/// Attack tests on the embedded API, the default cluster of <c>scheduler run</c>/<c>exec</c>: anything else on the machine
/// (a job's process, a web page in a browser) gets nothing without the kubeconfig's token, and no write through a
/// rebinding host name or a cross-site form.
/// </summary>
public sealed class EmbeddedApiAuthTests
{
    private const string PodsPath = "/api/v1/namespaces/default/pods";

    [Fact]
    public async Task A_request_without_the_token_is_refused_with_401()
    {
        await using var cluster = await TestCluster.StartAsync();
        using var anonymous = cluster.Anonymous();

        using var response = await anonymous.GetAsync(PodsPath);

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Contains("\"kind\":\"Status\"", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task A_request_with_another_token_is_refused_with_401()
    {
        await using var cluster = await TestCluster.StartAsync();
        using var guessing = cluster.Anonymous();
        guessing.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", "embedded-cluster-no-auth");

        using var response = await guessing.GetAsync(PodsPath);

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
    }

    [Fact]
    public async Task A_write_without_the_token_creates_nothing()
    {
        await using var cluster = await TestCluster.StartAsync();
        using var anonymous = cluster.Anonymous();
        var secret = """{"apiVersion":"v1","kind":"Secret","metadata":{"name":"planted"},"stringData":{"a":"b"}}""";

        using var response = await anonymous.PostAsync("/api/v1/namespaces/default/secrets",
            new StringContent(secret, Encoding.UTF8, "application/json"));

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.DoesNotContain((await cluster.Client.CoreV1.ListNamespacedSecretAsync("default")).Items, s => s.Metadata.Name == "planted");
    }

    [Fact]
    public async Task The_token_opens_the_API_and_health_stays_open()
    {
        await using var cluster = await TestCluster.StartAsync();
        using var http = cluster.Http();
        using var anonymous = cluster.Anonymous();

        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync(PodsPath)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await anonymous.GetAsync("/healthz")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await anonymous.GetAsync("/version")).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync("/api/v1")).StatusCode);
    }

    [Fact]
    public async Task An_exec_without_the_token_is_refused()
    {
        await using var cluster = await TestCluster.StartAsync();
        using var socket = cluster.AnonymousSocket();
        socket.Options.AddSubProtocol("v5.channel.k8s.io");
        socket.Options.CollectHttpResponseDetails = true;

        await Assert.ThrowsAsync<WebSocketException>(() => socket.ConnectAsync(
            new Uri($"wss://127.0.0.1:{cluster.Server.Url.Port}{PodsPath}/p/exec?command=id&stdout=true"), CancellationToken.None));
        Assert.Equal(HttpStatusCode.Unauthorized, socket.HttpStatusCode);
    }

    [Fact]
    public async Task A_foreign_host_name_is_refused_even_with_the_token()
    {
        await using var cluster = await TestCluster.StartAsync();
        using var http = cluster.Http();
        using var request = new HttpRequestMessage(HttpMethod.Get, PodsPath);
        request.Headers.Host = $"rebound.example:{cluster.Server.Url.Port}";

        using var response = await http.SendAsync(request);

        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
    }

    [Theory]
    [InlineData("text/plain")]
    [InlineData("application/x-www-form-urlencoded")]
    [InlineData("multipart/form-data; boundary=x")]
    [InlineData(null)]
    public async Task A_write_without_a_JSON_content_type_is_refused(string? contentType)
    {
        await using var cluster = await TestCluster.StartAsync();
        using var http = cluster.Http();
        var body = new ByteArrayContent(Encoding.UTF8.GetBytes("""{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"}}"""));
        if (contentType is not null) body.Headers.ContentType = MediaTypeHeaderValue.Parse(contentType);

        using var response = await http.PostAsync("/api/v1/namespaces/default/configmaps", body);

        Assert.Equal(HttpStatusCode.UnsupportedMediaType, response.StatusCode);
        Assert.DoesNotContain((await cluster.Client.CoreV1.ListNamespacedConfigMapAsync("default")).Items, c => c.Metadata.Name == "c");
    }

    [Fact]
    public async Task The_kubeconfig_carries_the_token_and_only_its_owner_reads_it()
    {
        await using var cluster = await TestCluster.StartAsync();

        Assert.Contains($"token: {cluster.Server.Token}", await File.ReadAllTextAsync(cluster.Server.KubeconfigPath));
        Assert.True(cluster.Server.Token.Length >= 40);
        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(cluster.Server.KubeconfigPath));
        }
    }

    [Fact]
    public async Task Two_clusters_have_different_tokens()
    {
        await using var a = await TestCluster.StartAsync();
        await using var b = await TestCluster.StartAsync();

        Assert.NotEqual(a.Server.Token, b.Server.Token);
    }

    [Theory]
    [InlineData("127.0.0.1:6443", true)]
    [InlineData("127.0.0.1", true)]
    [InlineData("localhost:6443", true)]
    [InlineData("LOCALHOST", true)]
    [InlineData("[::1]:6443", true)]
    [InlineData("10.200.0.1:41234", true)]
    [InlineData("rebound.example:6443", false)]
    [InlineData("localhost.rebound.example", false)]
    [InlineData("", false)]
    [InlineData(null, false)]
    public void Host_must_be_an_address_or_localhost(string? host, bool served)
    {
        Assert.Equal(served, RequestGuard.HostIsAddress(host));
    }

    [Theory]
    [InlineData("GET", "/api/v1/pods", "Bearer right", null, false, null)]
    [InlineData("GET", "/api/v1/pods", null, null, false, 401)]
    [InlineData("GET", "/api/v1/pods", "Bearer wrong", null, false, 401)]
    [InlineData("GET", "/api/v1/pods", "Basic right", null, false, 401)]
    [InlineData("GET", "/healthz", null, null, false, null)]
    [InlineData("GET", "/readyz/ping", null, null, false, null)]
    [InlineData("POST", "/api/v1/namespaces/default/pods", "Bearer right", "application/json; charset=utf-8", true, null)]
    [InlineData("PATCH", "/api/v1/namespaces/default/pods/p", "Bearer right", "application/merge-patch+json", true, null)]
    [InlineData("PATCH", "/api/v1/namespaces/default/pods/p", "Bearer right", "application/strategic-merge-patch+json", true, null)]
    [InlineData("POST", "/api/v1/namespaces", "Bearer right", "application/vnd.kubernetes.protobuf", true, null)]
    [InlineData("POST", "/api/v1/namespaces/default/pods", "Bearer right", "text/plain", true, 415)]
    [InlineData("PUT", "/api/v1/namespaces/default/pods/p", "Bearer right", null, true, 415)]
    [InlineData("DELETE", "/api/v1/namespaces/default/pods/p", "Bearer right", null, false, null)]
    [InlineData("DELETE", "/api/v1/namespaces/default/pods/p", "Bearer right", "text/plain", true, 415)]
    [InlineData("POST", "/healthz", null, "text/plain", true, 415)]
    public void Request_rules(string method, string path, string? authorization, string? contentType, bool hasBody, int? refusedWith)
    {
        var refusal = RequestGuard.Check(method, path, "127.0.0.1:6443", authorization, contentType, hasBody, "right");

        Assert.Equal(refusedWith, refusal?.Code);
    }
}
