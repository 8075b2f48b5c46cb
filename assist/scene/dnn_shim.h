// A thin C interface over OpenCV's DNN reader and forward pass that turns OpenCV's C++
// exceptions into error strings: gocv's own calls abort the process on a corrupt model file.
#ifndef SCENE_DNN_SHIM_H
#define SCENE_DNN_SHIM_H
#ifdef __cplusplus
extern "C" {
#endif

// scene_net_read loads a network (the format follows the file names, as cv::dnn::readNet).
// On failure it returns NULL and *err holds a message to free with scene_free.
void* scene_net_read(const char* model, const char* config, char** err);
// scene_net_forward runs net on blob (a cv::Mat*) and stores the first output in out (a
// cv::Mat*). It returns 0, or -1 with *err set.
int scene_net_forward(void* net, void* blob, void* out, char** err);
void scene_net_close(void* net);
void scene_free(char* s);

#ifdef __cplusplus
}
#endif
#endif
