#include <opencv2/core.hpp>
#include <opencv2/dnn.hpp>
#include <cstdlib>
#include <cstring>
#include <exception>
#include "dnn_shim.h"

static char* dupmsg(const char* s) {
	size_t n = strlen(s);
	char* d = (char*)malloc(n + 1);
	if (d) memcpy(d, s, n + 1);
	return d;
}

void* scene_net_read(const char* model, const char* config, char** err) {
	*err = NULL;
	try {
		cv::dnn::Net* n = new cv::dnn::Net(cv::dnn::readNet(model, config));
		if (n->empty()) {
			delete n;
			*err = dupmsg("the network is empty");
			return NULL;
		}
		return n;
	} catch (const cv::Exception& e) {
		*err = dupmsg(e.err.c_str());
	} catch (const std::exception& e) {
		*err = dupmsg(e.what());
	} catch (...) {
		*err = dupmsg("unknown error");
	}
	return NULL;
}

int scene_net_forward(void* net, void* blob, void* out, char** err) {
	*err = NULL;
	try {
		cv::dnn::Net* n = (cv::dnn::Net*)net;
		n->setInput(*(cv::Mat*)blob);
		*(cv::Mat*)out = n->forward();
		return 0;
	} catch (const cv::Exception& e) {
		*err = dupmsg(e.err.c_str());
	} catch (const std::exception& e) {
		*err = dupmsg(e.what());
	} catch (...) {
		*err = dupmsg("unknown error");
	}
	return -1;
}

void scene_net_close(void* net) { delete (cv::dnn::Net*)net; }

void scene_free(char* s) { free(s); }
