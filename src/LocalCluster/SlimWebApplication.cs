using Microsoft.AspNetCore.Builder;

namespace Scheduler.LocalCluster;

/// <summary>
/// ASP.NET Core's slim builder without its file watch: by default it reads appsettings.json from the current directory
/// and watches that directory, and everything below it, for changes (a recursive inotify watch: thousands of watches and
/// an event for every file written below it, the whole filesystem for a service started in /). These servers read no
/// settings file.
/// </summary>
public static class SlimWebApplication
{
    public static WebApplicationBuilder CreateBuilder() => WebApplication.CreateSlimBuilder(new WebApplicationOptions
    {
        Args = ["--hostBuilder:reloadConfigOnChange=false"],
        ContentRootPath = AppContext.BaseDirectory,
    });
}
