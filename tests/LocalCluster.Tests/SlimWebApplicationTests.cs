using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Configuration.Json;

namespace Scheduler.LocalCluster.Tests;

/// <summary>The embedded cluster's API server and the metrics endpoint watch no directory: ASP.NET Core's slim builder
/// watches the current directory, and all below it, for appsettings.json.</summary>
public sealed class SlimWebApplicationTests
{
    [Fact]
    public void No_settings_file_is_watched_and_the_content_root_is_not_the_current_directory()
    {
        var builder = SlimWebApplication.CreateBuilder();

        var jsonFiles = ((IConfigurationBuilder)builder.Configuration).Sources.OfType<JsonConfigurationSource>().ToList();
        Assert.All(jsonFiles, source => Assert.False(source.ReloadOnChange, $"{source.Path} is watched"));
        Assert.Equal(AppContext.BaseDirectory.TrimEnd('/'), builder.Environment.ContentRootPath.TrimEnd('/'));
    }

    [Fact]
    public void The_default_slim_builder_would_watch_them()
    {
        // What the fix is against: the framework's default, which a later version could change (then this test says so).
        var builder = WebApplication.CreateSlimBuilder();

        var jsonFiles = ((IConfigurationBuilder)builder.Configuration).Sources.OfType<JsonConfigurationSource>().ToList();
        var watched = jsonFiles.Any(source => source.ReloadOnChange);
        builder.Configuration.Dispose(); // its watch of this directory ends here

        Assert.True(watched, "the slim builder no longer watches appsettings.json by default");
    }
}
