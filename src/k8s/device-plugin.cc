// device-plugin.cc: gpushare-device-plugin, a kubelet device plugin (the
// v1beta1 gRPC API) offering gpushare's slices to Kubernetes: every lasting
// slice is a device of the resource <prefix>/<size> (gpushare.io/3g.20gb,
// gpushare.io/48sm.16gb), one plugin socket and one registration per size,
// as the API has it; Allocate answers what the container needs to run in
// its slice (the slice's identity, libgpushare.so preloaded and mounted,
// gpushare-control's pipe directory, the GPU's device nodes, a CDI name).
//
// C++ with Debian's gRPC++ rather than C with gRPC core: the core's C API
// (grpc/grpc.h) has no code generator for services, so each call, the
// server stream and the registration client would be hand-written against
// completion queues and byte buffers; gRPC++ generates them from
// deviceplugin.proto. gpushare's own code stays C (container.c: the slices,
// and what a container gets, the same for `gpushare cdi generate`).
#include "deviceplugin.grpc.pb.h"
#include "container.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <sys/stat.h>
#include <unistd.h>

namespace {

const size_t kMaxSlices = 256;       // devices offered, in all
const int kMaxContainerRequests = 64; // per Allocate / GetPreferredAllocation
const int kMaxIds = 256;             // device IDs in one container request

struct Options {
	std::string dir = "/var/lib/kubelet/device-plugins";
	std::string kubelet;             // default: <dir>/kubelet.sock
	std::string prefix = "gpushare.io";
	std::string library = GS_LIBDIR "/libgpushare.so";
	std::string pipe = "/tmp/gpushare";
	std::string state;               // default: gpushare's (gs_state_dir)
	std::string dev = "/dev";
	double poll_s = 1.0;
};

std::atomic<bool> stopping{false};

void say(const char *fmt, const std::string &a = "", const std::string &b = "")
{
	std::fprintf(stderr, "gpushare-device-plugin: ");
	std::fprintf(stderr, fmt, a.c_str(), b.c_str());
	std::fprintf(stderr, "\n");
}

// A socket path of ours in the plugin directory: nothing that is not a
// socket (a symlink, a file someone put there) is ever removed.
void remove_socket(const std::string &path)
{
	struct stat st;
	if (lstat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode))
		unlink(path.c_str());
}

bool is_socket(const std::string &path)
{
	struct stat st;
	return lstat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode);
}

// One resource (a slice size) and its plugin socket.
class Resource final : public v1beta1::DevicePlugin::Service {
      public:
	Resource(const Options &o, std::string size) : o_(o), size_(std::move(size)) {}

	std::string name() const { return o_.prefix + "/" + size_; }
	std::string endpoint() const { return "gpushare-" + size_ + ".sock"; }
	std::string socket() const { return o_.dir + "/" + endpoint(); }

	// The slices of this size now, and whether the daemon answers.
	void update(std::vector<k8s_slice> slices, bool healthy)
	{
		std::lock_guard<std::mutex> l(mu_);
		bool same = healthy == healthy_ && slices.size() == slices_.size() &&
			    std::equal(slices.begin(), slices.end(), slices_.begin(), [](const k8s_slice &a, const k8s_slice &b) {
				    return std::strcmp(a.uuid, b.uuid) == 0;
			    });
		slices_ = std::move(slices);
		healthy_ = healthy;
		if (!same) {
			generation_++;
			cv_.notify_all();
		}
	}

	bool serve()
	{
		remove_socket(socket());
		grpc::ServerBuilder b;
		b.AddListeningPort("unix://" + socket(), grpc::InsecureServerCredentials());
		b.RegisterService(this);
		b.SetMaxReceiveMessageSize(1 << 20);
		server_ = b.BuildAndStart();
		if (!server_) {
			say("cannot listen on %s", socket());
			return false;
		}
		chmod(socket().c_str(), 0600);
		return true;
	}

	bool registered_ = false;
	bool serving() const { return server_ != nullptr; }

	void stop()
	{
		{
			std::lock_guard<std::mutex> l(mu_);
			generation_++;
			cv_.notify_all();
		}
		if (server_)
			server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
		server_.reset();
		remove_socket(socket());
	}

	grpc::Status GetDevicePluginOptions(grpc::ServerContext *, const v1beta1::Empty *,
					    v1beta1::DevicePluginOptions *out) override
	{
		out->set_pre_start_required(false);
		out->set_get_preferred_allocation_available(true);
		return grpc::Status::OK;
	}

	// The devices now, then again each time they change, until the
	// kubelet goes or the plugin stops.
	grpc::Status ListAndWatch(grpc::ServerContext *ctx, const v1beta1::Empty *,
				  grpc::ServerWriter<v1beta1::ListAndWatchResponse> *w) override
	{
		unsigned long sent = ~0ul;
		for (;;) {
			v1beta1::ListAndWatchResponse r;
			{
				std::unique_lock<std::mutex> l(mu_);
				cv_.wait_for(l, std::chrono::milliseconds(500), [&] { return generation_ != sent || stopping; });
				if (stopping || ctx->IsCancelled())
					return grpc::Status::OK;
				if (generation_ == sent)
					continue;
				sent = generation_;
				for (const k8s_slice &s : slices_) {
					v1beta1::Device *d = r.add_devices();
					d->set_id(s.uuid);
					d->set_health(healthy_ ? "Healthy" : "Unhealthy");
				}
			}
			if (!w->Write(r))
				return grpc::Status::OK;
		}
	}

	grpc::Status GetPreferredAllocation(grpc::ServerContext *, const v1beta1::PreferredAllocationRequest *req,
					    v1beta1::PreferredAllocationResponse *out) override
	{
		if (req->container_requests_size() > kMaxContainerRequests)
			return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "too many container requests");
		std::lock_guard<std::mutex> l(mu_);
		for (const auto &c : req->container_requests()) {
			// the ones it must have, then the lowest GPU index, then by ID:
			// the same answer for the same question
			std::vector<std::string> pick(c.must_include_deviceids().begin(), c.must_include_deviceids().end());
			std::vector<const k8s_slice *> rest;
			for (const std::string &id : c.available_deviceids())
				for (const k8s_slice &s : slices_)
					if (id == s.uuid && std::find(pick.begin(), pick.end(), id) == pick.end())
						rest.push_back(&s);
			std::sort(rest.begin(), rest.end(), [](const k8s_slice *a, const k8s_slice *b) {
				return a->gpu != b->gpu ? a->gpu < b->gpu : std::strcmp(a->uuid, b->uuid) < 0;
			});
			for (const k8s_slice *s : rest)
				if ((int)pick.size() < c.allocation_size())
					pick.push_back(s->uuid);
			auto *r = out->add_container_responses();
			for (const std::string &id : pick)
				r->add_deviceids(id);
		}
		return grpc::Status::OK;
	}

	grpc::Status Allocate(grpc::ServerContext *, const v1beta1::AllocateRequest *req,
			      v1beta1::AllocateResponse *out) override
	{
		if (req->container_requests_size() > kMaxContainerRequests)
			return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "too many container requests");
		std::lock_guard<std::mutex> l(mu_);
		for (const auto &c : req->container_requests()) {
			if (c.devices_ids_size() != 1)
				return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
						    "a container runs in one gpushare slice: ask for " + name() + ": 1, not " +
							    std::to_string(c.devices_ids_size()));
			const std::string &id = c.devices_ids(0);
			const k8s_slice *s = nullptr;
			for (const k8s_slice &x : slices_)
				if (id == x.uuid)
					s = &x;
			if (!s || id.size() > 64)
				return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
						    "no slice " + id.substr(0, 64) + " of " + name() + " (it was removed, or is of another size)");
			container(*s, out->add_container_responses());
		}
		return grpc::Status::OK;
	}

	grpc::Status PreStartContainer(grpc::ServerContext *, const v1beta1::PreStartContainerRequest *,
				       v1beta1::PreStartContainerResponse *) override
	{
		return grpc::Status::OK;
	}

	void container(const k8s_slice &s, v1beta1::ContainerAllocateResponse *r) const
	{
		k8s_paths p = { o_.library.c_str(), o_.pipe.c_str(), o_.dev.c_str() };
		k8s_edits e;
		k8s_container_edits(&s, &p, &e);
		auto &env = *r->mutable_envs();
		for (size_t i = 0; i < e.n_env; i++)
			env[e.env[i].key] = e.env[i].value;
		for (size_t i = 0; i < e.n_mounts; i++) {
			v1beta1::Mount *m = r->add_mounts();
			m->set_host_path(e.mount[i].host);
			m->set_container_path(e.mount[i].container);
			m->set_read_only(e.mount[i].read_only);
		}
		for (size_t i = 0; i < e.n_devices; i++) {
			v1beta1::DeviceSpec *d = r->add_devices();
			d->set_host_path(e.device[i].host);
			d->set_container_path(e.device[i].container);
			d->set_permissions("rw");
		}
		r->add_cdi_devices()->set_name(e.cdi);
	}

      private:
	const Options &o_;
	std::string size_;
	std::unique_ptr<grpc::Server> server_;
	std::mutex mu_;
	std::condition_variable cv_;
	std::vector<k8s_slice> slices_;
	bool healthy_ = false;
	unsigned long generation_ = 0;
};

bool register_with_kubelet(const Options &o, const Resource &r)
{
	auto ch = grpc::CreateChannel("unix://" + o.kubelet, grpc::InsecureChannelCredentials());
	auto stub = v1beta1::Registration::NewStub(ch);
	v1beta1::RegisterRequest req;
	req.set_version("v1beta1");
	req.set_endpoint(r.endpoint());
	req.set_resource_name(r.name());
	req.mutable_options()->set_get_preferred_allocation_available(true);
	v1beta1::Empty e;
	grpc::ClientContext ctx;
	ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
	grpc::Status st = stub->Register(&ctx, req, &e);
	if (!st.ok()) {
		say("the kubelet refused %s: %s", r.name(), st.error_message());
		return false;
	}
	say("registered %s at %s", r.name(), r.socket());
	return true;
}

// The plugin directory must be the kubelet's: a directory of root (or of
// this user) that nobody else may write, so that no other user can put a
// socket of theirs where the kubelet looks.
bool dir_trusted(const std::string &dir)
{
	struct stat st;
	if (lstat(dir.c_str(), &st) || !S_ISDIR(st.st_mode) || (st.st_uid != 0 && st.st_uid != geteuid()) ||
	    (st.st_mode & 022)) {
		say("%s is not a directory of root's (or ours) that only its owner may write", dir);
		return false;
	}
	return true;
}

int usage()
{
	std::fprintf(stderr,
		     "usage: gpushare-device-plugin [--dir DIR] [--kubelet SOCKET] [--prefix DOMAIN] [--library PATH]\n"
		     "                              [--pipe DIR] [--state DIR] [--dev DIR]\n"
		     "  --dir      the kubelet's device plugin directory (/var/lib/kubelet/device-plugins)\n"
		     "  --kubelet  the kubelet's registration socket (DIR/kubelet.sock)\n"
		     "  --prefix   the resources' domain (gpushare.io): resources are DOMAIN/<size>\n"
		     "  --library  libgpushare.so, as mounted into containers (" GS_LIBDIR "/libgpushare.so)\n"
		     "  --pipe     gpushare-control's pipe directory (/tmp/gpushare)\n"
		     "  --state    gpushare's state directory (gpushare's default)\n"
		     "  --dev      where the GPU's device nodes are (/dev)\n");
	return 2;
}

} // namespace

int main(int argc, char **argv)
{
	Options o;
	for (int i = 1; i < argc; i++) {
		std::string a = argv[i];
		std::string *dst = a == "--dir" ? &o.dir : a == "--kubelet" ? &o.kubelet : a == "--prefix" ? &o.prefix
				   : a == "--library" ? &o.library : a == "--pipe" ? &o.pipe : a == "--state" ? &o.state
				   : a == "--dev" ? &o.dev : nullptr;
		if (a == "--help" || a == "-h")
			return usage(), 0;
		if (!dst || i + 1 >= argc) {
			std::fprintf(stderr, "gpushare-device-plugin: unknown option %s\n", a.c_str());
			return usage();
		}
		*dst = argv[++i];
	}
	if (o.kubelet.empty())
		o.kubelet = o.dir + "/kubelet.sock";
	if (o.state.empty()) {
		const char *env = std::getenv("GPUSHARE_STATE_DIR");
		o.state = env && *env ? env : "/var/lib/gpushare";
	}
	if (!dir_trusted(o.dir))
		return 1;
	k8s_paths paths = { o.library.c_str(), o.pipe.c_str(), o.dev.c_str() };
	char why[256];
	if (k8s_paths_check(&paths, why, sizeof why)) {
		say("%s", why);
		return 2;
	}
	std::signal(SIGTERM, [](int) { stopping = true; });
	std::signal(SIGINT, [](int) { stopping = true; });
	std::signal(SIGPIPE, SIG_IGN);

	std::map<std::string, std::unique_ptr<Resource>> resources;
	std::string last_error;
	k8s_gpus *gpus = nullptr;
	while (!stopping) {
		std::vector<k8s_slice> all(kMaxSlices);
		size_t n = 0;
		char err[512] = "";
		if (!gpus) // until the driver answers
			gpus = k8s_gpus_find(err, sizeof err);
		int rc = gpus ? k8s_slices(o.state.c_str(), gpus, all.data(), all.size(), &n, err, sizeof err) : -ENODEV;
		if (rc && last_error != err)
			say("cannot read the slices: %s", err);
		last_error = rc ? err : "";
		all.resize(rc ? 0 : n);
		bool healthy = k8s_daemon_answers(o.pipe.c_str());
		std::map<std::string, std::vector<k8s_slice>> by_size;
		for (const k8s_slice &s : all)
			by_size[s.size].push_back(s);
		for (auto &[size, list] : by_size)
			if (!resources.count(size))
				resources[size] = std::make_unique<Resource>(o, size);
		for (auto &[size, r] : resources) {
			auto it = by_size.find(size);
			r->update(it == by_size.end() ? std::vector<k8s_slice>{} : it->second, healthy);
			// a kubelet that restarted removed our sockets: serve and register again
			if (r->registered_ && !is_socket(r->socket())) {
				say("%s: the socket went (the kubelet restarted); registering again", r->name());
				r->stop();
				r->registered_ = false;
			}
			if (!r->registered_ && is_socket(o.kubelet) && (r->serving() || r->serve()))
				r->registered_ = register_with_kubelet(o, *r);
		}
		for (int i = 0; i < 10 && !stopping; i++)
			std::this_thread::sleep_for(std::chrono::milliseconds((int)(o.poll_s * 100)));
	}
	for (auto &[size, r] : resources)
		r->stop();
	k8s_gpus_free(gpus);
	return 0;
}
