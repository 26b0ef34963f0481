def get_recommended_renderer_name(model_name):
    return "role_colon"
