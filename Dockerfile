# syntax=docker/dockerfile:1
# One image is both the runner (`scheduler run`) and the job pods' helper: `scheduler-helper …` (NativeAOT, starts in
# milliseconds) for the pod commands it has, `scheduler helper …` for the artifact uploader and downloader.
# Build:  docker build -t scheduler:0.1.0 .

FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
# NativeAOT links with clang; zlib for the runtime's compression.
RUN apt-get update \
 && apt-get install -y --no-install-recommends clang zlib1g-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Restore first so the package layer is cached across source changes.
COPY Directory.Build.props Directory.Packages.props Scheduler.sln ./
COPY src/Messages/Messages.csproj src/Messages/
COPY src/Actors/Actors.csproj src/Actors/
COPY src/LocalCluster/LocalCluster.csproj src/LocalCluster/
COPY src/Scheduler/Scheduler.csproj src/Scheduler/
COPY src/PodHelper/PodHelper.csproj src/PodHelper/
RUN dotnet restore src/Scheduler/Scheduler.csproj && dotnet restore src/PodHelper/PodHelper.csproj
COPY src/ src/
COPY hocon/ hocon/
RUN dotnet publish src/Scheduler/Scheduler.csproj -c Release --no-restore -o /app
RUN dotnet publish src/PodHelper/PodHelper.csproj -c Release --no-restore -o /pod-helper

FROM mcr.microsoft.com/dotnet/aspnet:10.0 AS runtime
# git for the helper's source fetching; ca-certificates for HTTPS to GitLab and the API server.
RUN apt-get update \
 && apt-get install -y --no-install-recommends git ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /app /opt/scheduler
COPY --from=build /pod-helper/scheduler-helper /opt/scheduler/scheduler-helper
RUN ln -s /opt/scheduler/scheduler /usr/local/bin/scheduler \
 && ln -s /opt/scheduler/scheduler-helper /usr/local/bin/scheduler-helper
USER 1001:1001
ENTRYPOINT ["scheduler"]
